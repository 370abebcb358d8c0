"""What kind of input a check ran on: an ordinary one, or a special one.

The heat-map tells a framework that is wrong on ordinary inputs from one that fails
only where implementations are known to part ways. A check's input is special when

* ``invalid``: the mathematics refuses it (a class index out of range, a probability
  of 1.5, shapes that do not match): the oracle refused, and the record says so;
* ``non-finite``: a floating input holds NaN or ±inf (a sample weight included);
* ``empty``: an input has no elements (an empty batch);

and ``ordinary`` otherwise, however extreme its finite values (a huge logit is an
ordinary input a framework must get right). The first that applies names the kind.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from conformance.vocab.case import Case
from conformance.vocab.records import Record

ORDINARY = "ordinary"
SPECIAL = ("invalid", "non-finite", "empty")
KINDS = (ORDINARY, *SPECIAL)
# How conformance/check.py words a verdict on an input the oracle refuses.
_REFUSED_BY_ORACLE = ("the oracle refuses", "both refuse")


def of_case(case: Case | None) -> str:
    """``non-finite``, ``empty`` or ``ordinary``, from the case's arrays alone."""
    if case is None:
        return ORDINARY
    values = [np.asarray(a) for a in case.arrays.values()]
    if any(a.dtype.kind == "f" and a.size and not np.isfinite(a).all() for a in values):
        return "non-finite"
    if any(a.size == 0 for a in values):
        return "empty"
    return ORDINARY


def of_record(record: Record, case_kind: str) -> str:
    """The kind of input ``record`` was checked on, given its case's kind (of_case)."""
    if any(words in (record.detail or "") for words in _REFUSED_BY_ORACLE):
        return "invalid"
    return case_kind


def of_records(records: Iterable[Record], cases: Mapping[str, Case]) -> list[str]:
    """The kind of each record's input, each case classified once."""
    by_case: dict[str, str] = {}
    out = []
    for r in records:
        kind = by_case.get(r.case)
        if kind is None:
            kind = by_case[r.case] = of_case(cases.get(r.case))
        out.append(of_record(r, kind))
    return out
