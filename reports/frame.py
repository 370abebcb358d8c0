"""The records of a run as a pandas DataFrame: one flat row per record, scalars only.

This is the table behind the heat-map, the error pictures and the CSV/Parquet exports.
Arrays (``expected``, ``actual``, ``policy_expected``) stay in ``results.jsonl`` and
``cases.jsonl``; the row keeps what can be filtered, grouped and sorted on. Errors are
floats: ``"inf"`` becomes ``inf``, an unmeasured error ``NaN``; ``verdict_error_eps`` is
the error the outcome rests on (against the documented policy for a ``documented``
record, against the oracle otherwise); ``inputs`` is the kind of input the check ran on,
ordinary or special (reports.input_kinds).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping

import pandas as pd

from conformance.vocab.case import Case
from conformance.vocab.modes import label
from conformance.vocab.records import FAILING, Record

from . import input_kinds
from .summary import SEVERITY

# Column -> pandas dtype; the order is the CSV's column order.
COLUMNS: dict[str, str] = {
    "loss": "str", "variant": "str", "reduction": "str", "framework": "str",
    "framework_version": "str", "device": "str", "dtype": "str", "mode": "str", "check": "str",
    "origin": "str", "case": "str", "outcome": "str", "severity": "int64",
    "failing": "bool", "finding": "str", "explained": "bool",
    "error_eps": "float64", "policy_error_eps": "float64", "verdict_error_eps": "float64", "k": "float64",
    "error_ulp": "float64",
    "within_tolerance": "bool", "support": "str", "api": "str", "claimed": "boolean",
    "refused": "str", "raised": "str", "detail": "str", "citation": "str", "at": "str",
    "search_explored": "Int64", "search_shrink_checks": "Int64", "search_shrunk": "boolean",
    "search_score": "float64", "inputs": "str",
}


def to_float(value: Any) -> float:
    """A record's error as a float: numbers as they are, ``"inf"``/``"nan"`` strings
    parsed, anything else (None, missing) NaN."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def row(record: Record, versions: Mapping[str, str], inputs: str = input_kinds.ORDINARY) -> dict[str, Any]:
    """One record as a flat row of scalars (see COLUMNS); ``inputs``: the kind of input
    it was checked on (reports.input_kinds)."""
    outcome = record.outcome
    failing = outcome in FAILING
    error = to_float(record.error_eps)
    policy_error = to_float(record.policy_error_eps)
    k = to_float(record.k)
    search = record.search or {}
    at = record.at
    return {
        "loss": record.loss, "variant": record.variant, "reduction": record.reduction,
        "framework": record.framework,
        "framework_version": versions.get(record.framework, versions.get(record.framework.split("-")[0], "")),
        "device": record.device, "dtype": record.dtype, "mode": record.mode or "", "check": record.check,
        "origin": record.origin, "case": record.case, "outcome": outcome,
        "severity": SEVERITY.index(outcome) if outcome in SEVERITY else len(SEVERITY),
        "failing": failing, "finding": record.finding or "",
        "explained": failing and bool(record.finding),
        "error_eps": error, "policy_error_eps": policy_error, "error_ulp": to_float(record.error_ulp),
        "verdict_error_eps": policy_error if outcome == "documented" else error, "k": k,
        "within_tolerance": bool(error <= k) if not (math.isnan(error) or math.isnan(k)) else False,
        "support": record.support or "", "api": record.api or "",
        "claimed": record.claimed, "refused": record.refused or "",
        "raised": record.raised or "", "detail": record.detail or "",
        "citation": record.citation or "",
        "at": "" if at is None else ",".join(str(i) for i in at),
        "search_explored": search.get("explored"), "search_shrink_checks": search.get("shrink_checks"),
        "search_shrunk": search.get("shrunk"), "search_score": to_float(search.get("score")),
        "inputs": inputs,
    }


def shown_by_mode(records: Iterable[Record]) -> list[Record]:
    """The records as the report shows them: a framework in a mode other than its
    default is a column of its own (``torch-compiled``, vocab/modes.py), beside its
    plain call, in the heat-map, the matrix and the tables."""
    return [dataclasses.replace(r, framework=label(r.framework, r.mode))
            if r.mode and not r.framework.endswith(f"-{r.mode}") else r for r in records]


def records_frame(meta: Mapping[str, Any], records: Iterable[Record],
                  cases: Mapping[str, Case] | None = None) -> pd.DataFrame:
    """The run's records as a DataFrame with the columns of COLUMNS, in that order;
    without ``cases``, every input counts as ordinary unless the record says the
    oracle refused it."""
    versions = {name: str(v) for name, v in (meta.get("frameworks") or {}).items()}
    records = list(records)
    kinds = input_kinds.of_records(records, cases or {})
    rows = [row(r, versions, kind) for r, kind in zip(records, kinds)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype(COLUMNS) if rows else _empty()


def _empty() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in COLUMNS.items()})


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a measured error that says something about accuracy: agreeing and failing
    checks (not ``documented``, whose error is against the mathematics the framework
    departs from on purpose, nor ``unsupported``)."""
    keep = frame["outcome"].eq("agree") | frame["failing"]
    return frame[keep & frame["error_eps"].notna()]

