"""Edge cases (data/edge_cases.toml) as Cases: one per listed reduction."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from . import literal
from .case import Case

EDGE_FILE = Path(__file__).with_name("data") / "edge_cases.toml"


@lru_cache(maxsize=1)
def _table() -> dict:
    with open(EDGE_FILE, "rb") as f:
        return tomllib.load(f)["edge"]


def edge_cases(loss: str) -> list[Case]:
    cases = []
    for entry in _table().get(loss, []):
        for reduction in entry.get("reductions", ("none", "sum", "mean")):
            cases.append(Case(loss=loss, variant="edge", reduction=reduction,
                              arrays=literal.arrays(entry), params=dict(entry.get("params", {})),
                              origin="edge", note=entry["note"]))
    return cases
