"""Reduction cases: every loss's ``sum`` and ``mean`` over at least ``TERMS``
terms, in every dtype. A sum accumulated in half precision stalls (at 256 in
bfloat16 for unit terms) long before that, and the model holds half-precision
sums to a float32 accumulator (data/tolerance.toml); a few terms, as the
strategies draw them, would not tell the two apart.

The cases are drawn by the strategies with the batch-like size pinned
(data/reductions.toml, per layout, with per-loss overrides), so their values
have the same roles and specials as every generated case.
"""
from __future__ import annotations

import dataclasses
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from .strategies import draw_pinned
from .vocab.case import Case
from .vocab.catalog import LossSpec

TERMS = 4096
#: the variant their cases carry (their catalog variant's settings, drawn at this size)
VARIANT = "long_sum"
REDUCTIONS_FILE = Path(__file__).with_name("data") / "reductions.toml"
REDUCED = ("sum", "mean", "batchmean")


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    with open(REDUCTIONS_FILE, "rb") as f:
        return tomllib.load(f)


def pinned(spec: LossSpec) -> dict[str, Any]:
    """The sizes pinned for a loss: its layout's, then its own."""
    table = _table()
    sizes = dict(table["layout"][spec.layout]) | dict(table.get("loss", {}).get(spec.name, {}))
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in sizes.items()}


def reductions(spec: LossSpec) -> tuple[str, ...]:
    return tuple(r for r in spec.reductions if r in REDUCED)


def cases(spec: LossSpec, variant: str, reduction: str, seed: int) -> list[Case]:
    """One case: the second Hypothesis draws (the first is its simplest example)."""
    case = draw_pinned(spec, variant, reduction, pinned(spec), seed)
    return [dataclasses.replace(case, variant=VARIANT, note=f"variant {variant}: a {reduction} over {TERMS}+ terms")]
