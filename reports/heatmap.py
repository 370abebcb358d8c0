"""The heat-map: loss x framework, one panel per (device, dtype), aggregated from the
records' DataFrame (reports.frame).

Each cell carries two colourings: its worst outcome (the cell's background) and its
worst error in eps units on a log scale (a bar, coloured by ERROR_BINS, with a tick at
the dtype's tolerance k). The error is the one the verdict rests on: against the
documented policy for a ``documented`` record, against the oracle otherwise;
``unsupported`` records have none. Each cell also names its worst record (by outcome,
then error; a shrunk search case first on a tie), shown in full elsewhere in the report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from conformance.vocab import catalog
from conformance.vocab.dtypes import DTYPES
from conformance.vocab.tolerance import for_dtype

from .summary import SEVERITY

KEYS = ["device", "dtype", "loss", "framework"]

# The error scale: (upper bound in eps units, label, colour). The last finite bin has no
# upper bound; an infinite error gets INFINITE_BIN.
ERROR_BINS: tuple[tuple[float, str, str], ...] = (
    (1.0, "< 1", "#9ecae1"),
    (16.0, "1 – 16", "#3d85c6"),
    (1e2, "16 – 10²", "#fdae61"),
    (1e4, "10² – 10⁴", "#f46d43"),
    (1e6, "10⁴ – 10⁶", "#d73027"),
    (math.inf, "≥ 10⁶", "#a50026"),
)
INFINITE_BIN = ("∞", "#40004b")
# What a cell says in a few letters (its colour says it too).
SHORT = {"agree": "ok", "documented": "doc", "mismatch": "mis", "nonfinite-mismatch": "nonfin",
         "error-mismatch": "err", "device-mismatch": "dev", "mode-mismatch": "mode", "crash": "crash", "timeout": "timeout",
         "unsupported": "n/a", "undefined": "0/0"}
# The bar's length: log10(error) from SCALE_LOW (empty) to SCALE_HIGH (full).
SCALE_LOW, SCALE_HIGH = -2.0, 8.0


@dataclass(frozen=True)
class Cell:
    outcome: str
    counts: dict[str, int]
    worst_eps: float | None      # None: nothing measured (refusals, unsupported)
    explained: bool              # every failing record names a known finding
    worst_record: int            # index into the records (and the frame's rows)

    @property
    def anchor(self) -> str:
        return f"worst-{self.worst_record}"

    @property
    def short(self) -> str:
        return SHORT.get(self.outcome, self.outcome)

    @property
    def error_bin(self) -> int | None:
        """Index into ERROR_BINS, len(ERROR_BINS) for an infinite error, None unmeasured."""
        return error_bin(self.worst_eps)

    @property
    def bar_percent(self) -> float:
        return bar_percent(self.worst_eps)


def error_bin(error: float | None) -> int | None:
    if error is None or math.isnan(error):
        return None
    if math.isinf(error):
        return len(ERROR_BINS)
    return next(i for i, (upper, _, _) in enumerate(ERROR_BINS) if error < upper)


def bar_percent(error: float | None) -> float:
    """Where ``error`` lies on the log scale, 0-100 (0 for no error or an exact result)."""
    if error is None or math.isnan(error) or error <= 0:
        return 0.0
    if math.isinf(error):
        return 100.0
    share = (math.log10(error) - SCALE_LOW) / (SCALE_HIGH - SCALE_LOW)
    return round(100.0 * min(max(share, 0.02), 1.0), 1)


def legend() -> list[dict[str, Any]]:
    bins = [{"index": i, "label": label, "colour": colour} for i, (_, label, colour) in enumerate(ERROR_BINS)]
    return bins + [{"index": len(ERROR_BINS), "label": INFINITE_BIN[0], "colour": INFINITE_BIN[1]}]


def cell_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (device, dtype, loss, framework): worst severity, worst error, the number of
    failures no known finding explains, and the index of the worst record."""
    by_cell = frame.groupby(KEYS)
    unexplained = frame["failing"] & ~frame["explained"]
    return pd.DataFrame({"severity": by_cell["severity"].max(),
                         "worst_eps": by_cell["verdict_error_eps"].max(),
                         "unexplained": unexplained.groupby([frame[k] for k in KEYS]).sum(),
                         "worst_record": _worst_rows(frame)})


def panels(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One panel per (device, dtype): losses (rows, catalog order), frameworks (columns)
    and the cells, keyed by (loss, framework)."""
    if frame.empty:
        return []
    table = cell_table(frame)
    counts = frame.groupby(KEYS + ["outcome"]).size()
    out = []
    for (device, dtype), part in table.groupby(level=["device", "dtype"]):
        grid = part["severity"].droplevel(["device", "dtype"]).unstack("framework")   # loss x framework
        losses = sorted(grid.index, key=_loss_order)
        frameworks = sorted(grid.columns)
        cells = {}
        for (_, _, loss, fw), row in part.iterrows():
            cells[(loss, fw)] = Cell(
                outcome=SEVERITY[int(row["severity"])],
                counts={o: int(n) for o, n in counts.loc[(device, dtype, loss, fw)].items()},
                worst_eps=None if pd.isna(row["worst_eps"]) else float(row["worst_eps"]),
                explained=not row["unexplained"], worst_record=int(row["worst_record"]))
        k = for_dtype(dtype).k if dtype in DTYPES else None
        out.append({"device": device, "dtype": dtype, "id": f"heatmap-{device}-{dtype}", "k": k,
                    "k_percent": bar_percent(k), "losses": losses, "frameworks": frameworks,
                    "cells": cells})
    return sorted(out, key=lambda p: (p["device"], _dtype_order(p["dtype"])))


def _worst_rows(frame: pd.DataFrame) -> pd.Series:
    """Per cell, the frame index of its worst record: highest severity, then largest
    error (unmeasured lowest), then a search record (shrunk) before others."""
    ranked = frame.assign(_error=frame["verdict_error_eps"].fillna(-1.0),
                          _searched=frame["origin"].eq("search"), _row=frame.index)
    ranked = ranked.sort_values(["severity", "_error", "_searched"], kind="stable")
    return ranked.groupby(KEYS)["_row"].last()


def _loss_order(loss: str) -> tuple[int, str]:
    order = {name: i for i, name in enumerate(catalog.catalog())}
    return order.get(loss, len(order)), loss


def _dtype_order(dtype: str) -> int:
    return list(DTYPES).index(dtype) if dtype in DTYPES else len(DTYPES)
