"""The report's first screen: what a reader needs in ten seconds.

Per framework (its modes counted with it) and per dtype: the checks, the failing ones,
those a known finding explains, those none does (unexplained: the news), and how many
failures are on ordinary inputs rather than special ones (reports.input_kinds). Given a
baseline, what changed since it, in the gate's terms (reports.gate).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

import pandas as pd

from conformance.vocab.modes import unlabel
from conformance.vocab.records import Record

from . import gate, gate_groups, input_kinds
from .summary import dtype_order

COUNTS = ("checks", "failing", "explained", "unexplained", "ordinary", "special")


def _counts(part: pd.DataFrame) -> dict[str, int]:
    failing = part["failing"]
    ordinary = part["inputs"].eq(input_kinds.ORDINARY)
    return {"checks": len(part), "failing": int(failing.sum()), "explained": int(part["explained"].sum()),
            "unexplained": int((failing & ~part["explained"]).sum()),
            "ordinary": int((failing & ordinary).sum()), "special": int((failing & ~ordinary).sum())}


def base_framework(frame: pd.DataFrame) -> pd.Series:
    """The framework a row belongs to, its mode taken off its column label (torch-compiled: torch)."""
    return pd.Series([unlabel(fw, mode) for fw, mode in zip(frame["framework"], frame["mode"])],
                     index=frame.index, dtype="str")


def by_framework(frame: pd.DataFrame) -> dict[str, Any]:
    """Rows per framework with their counts in all and per dtype, and the run's total."""
    if frame.empty:
        return {"dtypes": [], "rows": [], "total": _counts(frame)}
    frameworks = base_framework(frame)
    dtypes = sorted(set(frame["dtype"]), key=dtype_order)
    rows = []
    for fw, part in frame.groupby(frameworks, sort=True):
        per_dtype = {dt: _counts(p) for dt, p in part.groupby("dtype")}
        rows.append({"framework": fw, **_counts(part), "dtypes": per_dtype})
    return {"dtypes": dtypes, "rows": rows, "total": _counts(frame)}


def since(baseline: Mapping[str, Any] | None, records: Iterable[Record],
          limit: int = 12) -> dict[str, Any] | None:
    """What changed against ``baseline`` (a loaded baseline, reports.gate.load_baseline),
    in the gate's terms: the regressions, the warnings (grew, still within tolerance)
    and the improvements, counted in cells, and the first ``limit`` groups of each by
    cause (reports.gate_groups) as text."""
    if baseline is None:
        return None
    # the report's records name a mode's column (torch-compiled); the gate keys on framework and mode
    records = [dataclasses.replace(r, framework=unlabel(r.framework, r.mode)) for r in records]
    after = gate.cells(records)
    comparison = gate.compare(baseline["cells"], after, gate.DEFAULT_FACTOR)
    groups = gate_groups.group([*comparison.regressions, *comparison.warnings, *comparison.improvements],
                               after, gate_groups.reasons(records))
    out: dict[str, Any] = {"path": baseline.get("path", ""), "frameworks": baseline.get("frameworks", {})}
    for severity, changes in zip(gate_groups.SEVERITIES, comparison):
        mine = gate_groups.of(groups, severity)
        out[severity] = {"cells": len(changes), "groups": len(mine), "lines": [g.line() for g in mine[:limit]]}
    return out
