"""Failing checks in groups a reader can take in: per heat-map cell (on the loss's page),
the unexplained ones across the run (on the first screen), and those each known finding
explains. Built from the records' DataFrame (reports.frame): unexplained first, then
failures on ordinary inputs, the worst outcome and the most checks."""
from __future__ import annotations

from typing import Any

import pandas as pd

from conformance.vocab.findings import by_id

from . import input_kinds
from .first_screen import base_framework
from .heatmap import KEYS, cell_anchor

DETAIL_LIMIT = 240
_WITHIN_CELL = ["variant", "reduction", "check", "outcome", "finding", "inputs"]


def _grouped(failing: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The groups, unexplained first, then those on ordinary inputs, the worst outcome and
    the most checks."""
    groups = failing.assign(_new=~failing["explained"], _ordinary=failing["inputs"].eq(input_kinds.ORDINARY))
    groups = groups.groupby(keys, sort=False).agg(
        checks=("case", "size"), worst=("verdict_error_eps", "max"), severity=("severity", "max"),
        new=("_new", "max"), ordinary=("_ordinary", "max"),
        detail=("detail", "first"), raised=("raised", "first")).reset_index()
    return groups.sort_values(["new", "ordinary", "severity", "checks"], ascending=False, kind="stable")


def _row(g: Any, keys: list[str]) -> dict[str, Any]:
    text = " ".join(str(g.detail or g.raised or "").split())
    row = {k: getattr(g, k) for k in keys}
    return {**row, "checks": int(g.checks), "worst": None if pd.isna(g.worst) else float(g.worst),
            "detail": text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT - 1] + "…"}


def by_cell(frame: pd.DataFrame) -> dict[tuple[str, str, str, str], list[dict[str, Any]]]:
    """Per cell (loss, device, dtype, framework): its failing checks grouped by variant,
    reduction, check, outcome, finding and kind of input."""
    failing = frame[frame["failing"]]
    if failing.empty:
        return {}
    keys = KEYS + _WITHIN_CELL
    out: dict[tuple, list[dict[str, Any]]] = {}
    for g in _grouped(failing, keys).itertuples(index=False):
        out.setdefault((g.loss, g.device, g.dtype, g.framework), []).append(_row(g, _WITHIN_CELL))
    return out


def unexplained(frame: pd.DataFrame, limit: int = 40) -> dict[str, Any]:
    """The failing checks no known finding explains, grouped by framework, loss, variant,
    check, dtype, device, outcome and kind of input: the first ``limit`` groups and how
    many more there are."""
    failing = frame[frame["failing"] & ~frame["explained"]]
    if failing.empty:
        return {"rows": [], "more": 0}
    keys = ["framework", "loss", "variant", "check", "dtype", "device", "outcome", "inputs"]
    groups = _grouped(failing, keys)
    rows = [{**_row(g, keys), "anchor": cell_anchor(g.framework, g.device, g.dtype)}
            for g in groups.head(limit).itertuples(index=False)]
    return {"rows": rows, "more": max(0, len(groups) - limit)}


def by_finding(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each known finding seen in the run, per framework: the losses and checks it explains."""
    known = frame[frame["explained"]]
    if known.empty:
        return []
    known = known.assign(_framework=base_framework(known))
    out = []
    for (finding, framework), part in known.groupby(["finding", "_framework"]):
        found = by_id(finding)
        out.append({"finding": finding, "framework": framework, "checks": len(part),
                    "losses": sorted(set(part["loss"])), "summary": found.summary if found else ""})
    return sorted(out, key=lambda f: (-f["checks"], f["finding"], f["framework"]))
