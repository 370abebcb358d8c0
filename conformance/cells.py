"""Cells: the rows of the matrix, and the cases each one checks.

A loss has, in this order, the cells that replay what is known (its corpus, its
edge cases, hand-listed and derived from the spec, the documents' worked examples), then one generated cell per (catalog
variant, reduction), one reduction cell per reduction over at least 4,096 terms
(``reductions``), then the profile's LLM-scale cells, one per device. A cell's
``id`` names it in pytest ids, unit keys and the seeds its cases are drawn with.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from . import corpus, derived, documents, edge_cases, large, reductions, strategies
from .profiles import Profile
from .vocab import catalog
from .vocab.case import Case

Source = Literal["corpus", "edge", "document", "generated", "reduction", "large"]
REPLAYED: tuple[Source, ...] = ("corpus", "edge", "document")


@dataclass(frozen=True)
class Cell:
    loss: str
    source: Source
    variant: str | None = None          # the catalog variant (generated and LLM-scale cells)
    reduction: str | None = None        # generated and LLM-scale cells; replayed cases carry their own
    device: str | None = None           # an LLM-scale cell runs on one device only
    shapes: tuple[tuple[int, int], ...] = ()   # an LLM-scale cell's (tokens, classes)

    @property
    def id(self) -> str:
        if self.source in REPLAYED:
            return f"{self.loss}-{self.source}"
        if self.source == "reduction":
            return f"{self.loss}-{self.variant}-{self.reduction}-{reductions.TERMS}"
        return f"{self.loss}-{self.case_variant}-{self.reduction}"

    @property
    def case_variant(self) -> str:
        """The variant its generated cases carry (an LLM-scale case names its device's cell)."""
        if self.source == "large":
            return "large" if self.device == "cpu" else f"large_{self.device}"
        if self.source == "reduction":
            return reductions.VARIANT
        return self.variant or self.source

    @property
    def generated(self) -> bool:
        """Drawn by the strategies from a catalog variant (what the worst-case search explores)."""
        return self.source == "generated"

    def runs_on(self, device: str) -> bool:
        return self.device is None or self.device == device


def cells(losses: tuple[str, ...] | None = None, profile: Profile | None = None) -> list[Cell]:
    out = []
    for spec in catalog.catalog().values():
        if losses and spec.name not in losses:
            continue
        out += [Cell(spec.name, "corpus")] if corpus.cases(spec.name) else []
        out += [Cell(spec.name, "edge"), Cell(spec.name, "document")]
        out += [Cell(spec.name, "generated", v, r) for v in spec.variants for r in spec.reductions_of(v)]
        out += [Cell(spec.name, "reduction", next(iter(spec.variants)), r) for r in reductions.reductions(spec)]
        if profile is not None and spec.name in profile.large_losses:
            out += [Cell(spec.name, "large", None, "mean", "cpu", profile.large_shapes),
                    Cell(spec.name, "large", None, "mean", "cuda", profile.large_shapes_cuda)]
    return out


def cases_for(cell: Cell, examples: int, seed: int) -> tuple[Case, ...]:
    """The cases of a cell: the corpus (kept by ``corpus``, which ``run --corpus`` may
    point elsewhere), or made once and kept."""
    if cell.source == "corpus":
        return corpus.cases(cell.loss)
    return _made(cell, examples, seed)


@lru_cache(maxsize=None)
def _made(cell: Cell, examples: int, seed: int) -> tuple[Case, ...]:
    if cell.source == "edge":          # the hand-listed ones, then those derived from the spec
        made = [*edge_cases.edge_cases(cell.loss), *derived.cases(catalog.get(cell.loss))]
        return tuple({c.id: c for c in made}.values())
    if cell.source == "document":
        return tuple(documents.for_loss(cell.loss))
    if cell.source == "large":
        return tuple(large.cases(cell.loss, cell.case_variant, cell.reduction, cell.shapes, seed))
    cell_seed = zlib.crc32(f"{seed}:{cell.id}".encode())
    if cell.source == "reduction":
        return tuple(reductions.cases(catalog.get(cell.loss), cell.variant, cell.reduction, cell_seed))
    return tuple(strategies.draw_cases(catalog.get(cell.loss), cell.variant, cell.reduction,
                                       count=examples, seed_value=cell_seed))


def clear_case_cache() -> None:
    """Forget the made cases (tests that change what the strategies or the corpus hold)."""
    _made.cache_clear()
