"""``corpus``: the replay corpus, shown, or grown by a run's shrunk counterexamples."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import corpus
from ..results import load
from .options import UsageError


def add(sub: argparse._SubParsersAction) -> None:
    cor = sub.add_parser("corpus", help="the replay corpus: 'show' it, or 'add' a run's shrunk counterexamples")
    cor.add_argument("action", choices=("show", "add"))
    cor.add_argument("results", nargs="?", help="results directory (for add)")
    cor.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.action == "add":
        if not args.results:
            raise UsageError("corpus add needs a results directory: python -m conformance corpus add RESULTS")
        _, records, found = load(Path(args.results))
        picked = corpus.counterexamples(records, found)
        added = corpus.add(picked)
        for loss, n in added.items():
            print(f"  {loss:<28} +{n}")
        print(f"{sum(added.values())} new case(s) added to {corpus.CORPUS_DIR} "
              f"({len(picked)} counterexample(s) in {args.results}, the rest already there)")
    ident = corpus.identity()
    print(f"corpus format {ident['format']}: {ident['cases']} case(s), digest {ident['digest']}")
    return 0
