"""Coverage: how each framework covers each loss of the catalog, variant by variant
(native, composed from the framework's primitives, or unsupported with a reason).

Support is decided per case (a cross-entropy with ignored rows may be composed
where the plain one is native; Keras's regression losses are native for 'mean'
only), so each (variant, reduction) is probed with a generated case.
Used by ``python -m conformance list`` and the report's coverage matrix.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Iterable, Sequence

from .cells import Cell, cases_for

from .vocab import catalog

PROBE_SEED = 0


@dataclass(frozen=True)
class Entry:
    loss: str
    variant: str
    reduction: str
    framework: str
    kind: str         # native | composed | unsupported
    api: str
    reason: str


def entries(adapters: Sequence, losses: Iterable[str] | None = None) -> list[Entry]:
    """One entry per (loss, variant, reduction, framework), probed on one generated case."""
    out = []
    for name in (losses or catalog.catalog()):
        spec = catalog.get(name)
        for variant in spec.variants:
            for reduction in spec.reductions_of(variant):
                out += _probe(adapters, spec.name, variant, reduction)
    return out


def _probe(adapters: Sequence, loss: str, variant: str, reduction: str) -> list[Entry]:
    probe = cases_for(Cell(loss, "generated", variant, reduction), 1, PROBE_SEED)
    out = []
    for adapter in adapters:
        support = adapter.support(probe[0]) if probe else None
        out.append(Entry(loss, variant, reduction, adapter.name,
                         support.kind if support else "unsupported",
                         support.api if support else "",
                         support.reason if support else "no case could be drawn"))
    return out


def summary(kinds: Iterable[str]) -> str:
    """'native', 'composed', 'unsupported', or the counts when the variants differ."""
    counts = collections.Counter(kinds)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))


def table(found: Sequence[Entry], frameworks: Sequence[str], unavailable: dict[str, str]) -> list[list[str]]:
    """Rows [loss, variant count, one cell per framework (counting variant x reduction)]."""
    by_cell: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    variants: dict[str, set[str]] = collections.defaultdict(set)
    for e in found:
        by_cell[e.loss, e.framework].append(e.kind)
        variants[e.loss].add(e.variant)
    rows = []
    for loss in dict.fromkeys(e.loss for e in found):
        cells = [("(not installed)" if fw in unavailable else summary(by_cell[loss, fw])) for fw in frameworks]
        rows.append([loss, str(len(variants[loss])), *cells])
    return rows


def render(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def totals(found: Sequence[Entry], frameworks: Sequence[str]) -> str:
    """One line per framework: how many losses it covers natively, composed, or not at all."""
    lines = []
    for fw in frameworks:
        kinds: dict[str, set[str]] = collections.defaultdict(set)
        for e in found:
            if e.framework == fw:
                kinds[e.loss].add(e.kind)
        native = sum(1 for k in kinds.values() if "native" in k)
        composed = sum(1 for k in kinds.values() if "native" not in k and "composed" in k)
        none = sum(1 for k in kinds.values() if k == {"unsupported"})
        if kinds:
            lines.append(f"{fw}: {len(kinds)} losses: {native} native (in at least one variant), "
                         f"{composed} composed only, {none} unsupported")
    return "\n".join(lines)


def details(found: Sequence[Entry]) -> str:
    """Per loss and variant, what each framework calls (the migration guide) or why not;
    the reductions of a variant where every framework does the same are one group."""
    lines = []
    for loss in dict.fromkeys(e.loss for e in found):
        lines.append(f"{loss}: {catalog.get(loss).summary}")
        of_loss = [e for e in found if e.loss == loss]
        for variant in dict.fromkeys(e.variant for e in of_loss):
            calls: dict[str, list[tuple[str, str, str]]] = {}
            for e in (e for e in of_loss if e.variant == variant):
                calls.setdefault(e.reduction, []).append(
                    (e.framework, e.kind, e.api if e.kind != "unsupported" else e.reason))
            groups: dict[tuple, list[str]] = {}
            for reduction, rows in calls.items():
                groups.setdefault(tuple(rows), []).append(reduction)
            for rows, reductions in groups.items():
                lines.append(f"  {variant} / {', '.join(reductions)}")
                lines += [f"    {framework:<11} {kind:<10} {text}" for framework, kind, text in rows]
    return "\n".join(lines)
