"""``list``: the catalog with each framework's coverage; with loss names, what each
framework calls for each variant (or why not)."""
from __future__ import annotations

import argparse

from .. import cells, coverage, edge_coverage
from ..vocab import catalog
from ..vocab.modes import MODES
from .options import chosen_frameworks
from .wrapping import wrap


def add(sub: argparse._SubParsersAction) -> None:
    lst = sub.add_parser("list", help="print the catalog with each framework's coverage; with loss "
                                      "names, what each framework calls for each variant (or why not)")
    lst.add_argument("losses", nargs="*", metavar="LOSS", help="losses to show in detail")
    lst.add_argument("--adapter", action="append", metavar="SPEC", help="add your own adapter's coverage")
    lst.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    for name in args.losses:
        catalog.get(name)                      # an unknown name: one message, exit 2
    chosen, versions, _ = chosen_frameworks(None, args.adapter or (), all_builtins=True)
    unavailable = {n: v for n, v in versions.items() if v.startswith("unavailable")}
    found = coverage.entries(chosen, args.losses or None)
    if args.losses:
        parts = [coverage.details(found), *map(edge_coverage_text, args.losses),
                 *(modes_text(chosen, name) for name in args.losses)]
        print(wrap("\n\n".join(parts)))
        return 0
    print(coverage.render(coverage.table(found, list(versions), unavailable), ["loss", "variants", *versions]))
    print()
    print(coverage.totals(found, [a.name for a in chosen]))
    return 0


def modes_text(adapters, loss: str | None = None) -> str:
    """Each framework's modes, the ways of calling ``loss`` (``run --modes``): its default
    (the plain call), the execution modes, surfaces, precision and differentiation modes
    it runs and how, and why it lacks the rest (for the loss, where that is why)."""
    head = f"{loss}: " if loss else ""
    lines = [f"{head}modes: surfaces, execution, precision and differentiation (run --modes; "
             "the default mode is the plain call):"]
    for a in adapters:
        default = getattr(a, "default_mode", "eager")
        lines.append(f"  {a.name}:")
        for mode in MODES:
            ask = getattr(a, "mode_unsupported", None)
            lacking = ask(mode, loss) if ask and mode != default else None
            if mode == default:
                lines.append(f"    {mode:<9} default")
            elif lacking is None and mode in getattr(a, "modes", {}):
                lines.append(f"    {mode:<9} {a.modes[mode]}")
            else:
                why = lacking or ("an adapter without modes" if ask is None else "unsupported")
                lines.append(f"    {mode:<9} unsupported: {why}")
    return "\n".join(lines)


def edge_coverage_text(loss: str) -> str:
    """What the loss's replayed cases (edge cases, hand-listed and derived from the
    spec, and the documents' examples) meet: each special value, structure and
    parameter boundary with the number of cases that hold it ('-': none)."""
    cases = [c for cell in cells.cells((loss,)) if cell.source in ("edge", "document")
             for c in cells.cases_for(cell, 1, 0)]
    counts = edge_coverage.met(cases).get(loss, {})
    head = f"{loss}: special inputs met by its {len(cases)} edge and document cases (cases per entry; - none)"
    return "\n".join([head, *edge_coverage.lines(catalog.get(loss), counts)])
