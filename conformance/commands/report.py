"""``report``: the HTML report of a results directory, with results.csv,
results.parquet, summary.md and the reproducers beside it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.gate import load_baseline
from reports.outputs import write_all
from reports.reproducers import write_beside

from ..results import load
from .options import EXIT_USAGE


def add(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="render the HTML report of a results directory, with results.csv, "
                                        "results.parquet and summary.md (Markdown) beside it")
    rep.add_argument("results", help="a directory written by 'run'")
    rep.add_argument("--out", help="HTML file (default: RESULTS/report.html); the other outputs go in its folder")
    rep.add_argument("--no-reproducers", action="store_true",
                     help="do not write reproducers/ beside the report (per discrepancy: a standalone script, its "
                          "inputs and a draft bug report; writing and checking the scripts imports the frameworks)")
    rep.add_argument("--baseline", help="a baseline file (from 'baseline'): the first screen says what changed since it")
    rep.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    return write(Path(args.results), Path(args.out) if args.out else None, reproducers=not args.no_reproducers,
                 baseline=Path(args.baseline) if args.baseline else None)


def write(results: Path, out: Path | None = None, *, reproducers: bool = True, baseline: Path | None = None) -> int:
    """Every output of the report (exit status 2 when one could not be written). A
    baseline that cannot be read stops it before anything is written."""
    against = None
    if baseline is not None:
        against = {**load_baseline(baseline), "path": str(baseline)}
    meta, records, cases = load(results)
    out = out or results / "report.html"
    failed = 0
    for written in write_all(meta, records, cases, out, baseline=against):
        if written.error:
            failed += 1
            print(f"error: {written.what} not written to {written.path}: {written.error}", file=sys.stderr)
        else:
            print(f"{written.what} written to {written.path.resolve()}")
    if reproducers:
        print(write_beside(out, results, meta, records, cases))
    return EXIT_USAGE if failed else 0
