"""Edge cases (data/edge_cases/<family>.toml; the format in data/edge_cases.toml)
as Cases: one per listed reduction."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from . import literal
from .vocab import catalog
from .vocab.case import Case

EDGE_DIR = Path(__file__).with_name("data") / "edge_cases"


@lru_cache(maxsize=1)
def _table() -> dict[str, list]:
    table: dict[str, list] = {}
    for path in sorted(EDGE_DIR.glob("*.toml")):
        with open(path, "rb") as f:
            for loss, entries in tomllib.load(f).get("edge", {}).items():
                table.setdefault(loss, []).extend(entries)
    return table


def edge_cases(loss: str) -> list[Case]:
    cases = []
    names = tuple(catalog.get(loss).arguments)
    for entry in _table().get(loss, []):
        for reduction in entry.get("reductions", ("none", "sum", "mean")):
            cases.append(Case(loss=loss, variant="edge", reduction=reduction,
                              arrays=literal.arrays(entry, names), params=dict(entry.get("params", {})),
                              origin="edge", note=entry["note"]))
    return cases
