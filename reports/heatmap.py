"""The heat-map: loss x framework, aggregated from the records' DataFrame (reports.frame).

Two tables: the frameworks' plain calls (a column group per device and dtype, a column
per framework) and the other ways of calling them (a column group per device, dtype
and framework, a column per mode; a mode no loss supports is left out and named).

A cell's *verdict* tells wrong from fragile: ``wrong`` when a check on an ordinary
input fails, ``fragile`` when the failures are all on special inputs (invalid,
non-finite, empty: reports.input_kinds), else its worst outcome among ``documented``,
``agree``, ``unsupported`` and ``undefined``. It also carries its failing share (of the
checks it ran), the failures no known finding explains (``unexplained``: the news),
whether the suite composed the loss from primitives rather than calling the
framework's own API (every check of the cell composed), and its worst error in eps units on a log scale (a bar, coloured
by ERROR_BINS, with a tick at the dtype's tolerance k): against the documented policy
for a ``documented`` record, against the oracle otherwise. Each cell names its worst
record (an unexplained failure first, then one on an ordinary input, then by outcome
and error; a shrunk search case first on a tie), shown on the loss's page with the
cell's other failures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from conformance.vocab import catalog
from conformance.vocab.dtypes import DTYPES
from conformance.vocab.modes import unlabel
from conformance.vocab.tolerance import for_dtype

from . import input_kinds
from .summary import SEVERITY, dtype_order

KEYS = ["device", "dtype", "loss", "framework"]
#: the verdicts a cell can have, worst first, with what the legend says of each
VERDICTS: dict[str, str] = {
    "wrong": "fails on ordinary inputs",
    "fragile": "fails only on special inputs (invalid, non-finite, empty)",
    "documented": "departs from the mathematics as documented",
    "agree": "agrees",
    "undefined": "agrees where the value is defined",
    "unsupported": "not offered",
}

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
# The columns of one heat-map table: at 4.9em a cell, this many fit 1440 pixels beside the loss names.
MAX_COLUMNS = 16
# The bar's length: log10(error) from SCALE_LOW (empty) to SCALE_HIGH (full).
SCALE_LOW, SCALE_HIGH = -2.0, 8.0


@dataclass(frozen=True)
class Cell:
    loss: str
    framework: str               # the column's label: torch, or torch-compiled for a mode
    device: str
    dtype: str
    outcome: str                 # the worst outcome
    counts: dict[str, int]
    checks: int                  # the checks it ran (unsupported ones left out)
    failing: int
    failing_ordinary: int        # failing on an ordinary input
    unexplained: int             # failing, and no known finding explains it
    composed_checks: int         # checks of a recipe the suite composed from the framework's primitives
    worst_eps: float | None      # None: nothing measured (refusals, unsupported)
    worst_record: int            # index into the records (and the frame's rows)

    @property
    def verdict(self) -> str:
        if self.failing_ordinary:
            return "wrong"
        if self.failing:
            return "fragile"
        if not self.checks:
            return "unsupported"
        if self.counts.get("documented"):
            return "documented"
        return "agree" if self.counts.get("agree") else "undefined"

    @property
    def composed(self) -> bool:
        """No check of the cell calls the framework's own loss API: the suite composed it."""
        return self.checks > 0 and self.composed_checks == self.checks

    @property
    def explained(self) -> bool:
        return self.failing > 0 and not self.unexplained

    @property
    def share(self) -> float:
        """The failing checks' share of those it ran (0 when it ran none)."""
        return self.failing / self.checks if self.checks else 0.0

    @property
    def share_text(self) -> str:
        percent = 100.0 * self.share
        return "<1%" if 0 < percent < 1 else f"{percent:.0f}%"

    @property
    def label(self) -> str:
        """What the cell says in a word: the failing share, else its verdict."""
        return self.share_text if self.failing else self.verdict

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.loss, self.device, self.dtype, self.framework)

    @property
    def anchor(self) -> str:
        return cell_anchor(self.framework, self.device, self.dtype)

    @property
    def error_bin(self) -> int | None:
        """Index into ERROR_BINS, len(ERROR_BINS) for an infinite error, None unmeasured."""
        return error_bin(self.worst_eps)

    @property
    def bar_percent(self) -> float:
        return bar_percent(self.worst_eps)


def cell_anchor(framework: str, device: str, dtype: str) -> str:
    """The id of a cell's detail on its loss's page."""
    return f"cell-{framework}-{device}-{dtype}"


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


def cells(frame: pd.DataFrame) -> dict[tuple[str, str, str, str], Cell]:
    """Every cell, keyed by (loss, device, dtype, framework label)."""
    if frame.empty:
        return {}
    group = [frame[k] for k in KEYS]
    run = ~frame["outcome"].eq("unsupported")
    failing = frame["failing"]
    table = pd.DataFrame({
        "severity": frame.groupby(group)["severity"].max(),
        "worst_eps": frame.groupby(group)["verdict_error_eps"].max(),
        "checks": run.groupby(group).sum(),
        "failing": failing.groupby(group).sum(),
        "failing_ordinary": (failing & frame["inputs"].eq(input_kinds.ORDINARY)).groupby(group).sum(),
        "unexplained": (failing & ~frame["explained"]).groupby(group).sum(),
        "composed": (run & frame["support"].eq("composed")).groupby(group).sum(),
        "worst_record": _worst_rows(frame)})
    counts = frame.groupby(KEYS + ["outcome"]).size()
    out = {}
    for (device, dtype, loss, fw), row in table.iterrows():
        out[(loss, device, dtype, fw)] = Cell(
            loss=loss, framework=fw, device=device, dtype=dtype,
            outcome=SEVERITY[int(row["severity"])],
            counts={o: int(n) for o, n in counts.loc[(device, dtype, loss, fw)].items()},
            checks=int(row["checks"]), failing=int(row["failing"]),
            failing_ordinary=int(row["failing_ordinary"]), unexplained=int(row["unexplained"]),
            composed_checks=int(row["composed"]),
            worst_eps=None if pd.isna(row["worst_eps"]) else float(row["worst_eps"]),
            worst_record=int(row["worst_record"]))
    return out


def tables(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The heat-map's tables: the plain calls, then the modes (when the run has any).
    Each: an id, a title, column groups (a label, the dtype's k, the columns as
    (label, cell key's framework)), the losses (catalog order), the cells and the
    columns left out because no loss supports them there."""
    found = cells(frame)
    if not found:
        return []
    modes = dict(zip(frame["framework"], frame["mode"]))
    plain = {key: c for key, c in found.items() if not modes.get(c.framework)}
    moded = {key: c for key, c in found.items() if modes.get(c.framework)}
    out = [_table("heatmap-plain", "the frameworks' own calls", plain,
                  lambda c: ((c.device, c.dtype), c.framework, c.framework))]
    if moded:
        out.append(_table("heatmap-modes", "compiled, traced, through a module or Keras class, under autocast, "
                          "differentiated forward", moded,
                          lambda c: ((c.device, c.dtype, unlabel(c.framework, modes[c.framework])),
                                     c.framework, modes[c.framework])))
    return out


def _table(id_: str, title: str, found: Mapping[tuple, Cell], place) -> dict[str, Any]:
    """One table: ``place(cell)`` gives its (column group key, column key, column label)."""
    columns: dict[tuple, dict[str, str]] = {}
    offered: dict[tuple, bool] = {}
    for c in found.values():
        group, key, text = place(c)
        columns.setdefault(group, {})[key] = text
        offered[(group, key)] = offered.get((group, key), False) or c.verdict != "unsupported"
    groups, left_out = [], []
    for group in sorted(columns, key=lambda g: (g[0], dtype_order(g[1]), *g[2:])):
        kept = [(key, text) for key, text in sorted(columns[group].items()) if offered[(group, key)]]
        left_out += [f"{key} ({' · '.join(group)})" for key, _ in sorted(columns[group].items())
                     if not offered[(group, key)]]
        if not kept:
            continue
        k = for_dtype(group[1]).k if group[1] in DTYPES else None
        groups.append({"label": " · ".join(group), "device": group[0], "dtype": group[1], "k": k,
                       "k_percent": bar_percent(k), "columns": kept})
    losses = sorted({c.loss for c in found.values()}, key=_loss_order)
    return {"id": id_, "title": title, "groups": groups, "sections": sections(groups),
            "losses": losses, "left_out": left_out,
            "cells": {(c.loss, c.device, c.dtype, c.framework): c for c in found.values()}}


def by_loss(tables: list[dict[str, Any]]) -> dict[str, list[Cell]]:
    """Each loss's cells in the order its row shows them, table after table."""
    out: dict[str, list[Cell]] = {}
    for table in tables:
        for loss in table["losses"]:
            out.setdefault(loss, []).extend(
                c for g in table["groups"] for key, _ in g["columns"]
                if (c := table["cells"].get((loss, g["device"], g["dtype"], key))))
    return out


def sections(groups: list[dict[str, Any]], width: int = MAX_COLUMNS) -> list[list[dict[str, Any]]]:
    """The column groups cut into tables of at most ``width`` columns (a group wider
    than that alone in its table), so that a table fits the page's width."""
    out: list[list[dict[str, Any]]] = []
    for g in groups:
        if out and sum(len(x["columns"]) for x in out[-1]) + len(g["columns"]) <= width:
            out[-1].append(g)
        else:
            out.append([g])
    return out


def _worst_rows(frame: pd.DataFrame) -> pd.Series:
    """Per cell, the frame index of its worst record: a failure no known finding explains
    first, then one on an ordinary input (what makes a cell wrong), then the highest
    severity, the largest error (unmeasured lowest), and a search record (shrunk) before
    others."""
    failing = frame["failing"]
    ranked = frame.assign(_new=failing & ~frame["explained"],
                          _ordinary=failing & frame["inputs"].eq(input_kinds.ORDINARY),
                          _error=frame["verdict_error_eps"].fillna(-1.0),
                          _searched=frame["origin"].eq("search"), _row=frame.index)
    ranked = ranked.sort_values(["_new", "_ordinary", "severity", "_error", "_searched"], kind="stable")
    return ranked.groupby(KEYS)["_row"].last()


def _loss_order(loss: str) -> tuple[int, str]:
    order = {name: i for i, name in enumerate(catalog.catalog())}
    return order.get(loss, len(order)), loss

