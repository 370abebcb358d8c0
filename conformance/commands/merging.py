"""``merge``: the shards of ``run --shard K/N`` joined into one run, and its report."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import shards
from . import report


def add(sub: argparse._SubParsersAction) -> None:
    mer = sub.add_parser("merge", help="join the results of 'run --shard K/N' parts into one run and report")
    mer.add_argument("shards", nargs="+", metavar="RESULTS", help="the shards' results directories")
    mer.add_argument("--out", required=True, help="results directory to write (the report goes inside)")
    mer.add_argument("--partial", action="store_true",
                     help="merge even when some shards are missing or unfinished (a run stopped by a time limit)")
    mer.add_argument("--no-reproducers", action="store_true", help="as for report")
    mer.add_argument("--force", action="store_true", help="replace the run that --out already holds")
    mer.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    meta = shards.merge([Path(d) for d in args.shards], Path(args.out), partial=args.partial, force=args.force)
    total = sum(meta["counts"].values())
    print(f"{len(meta['shards'])} shard(s), {total} records merged into {Path(args.out).resolve()}"
          + (f"; missing shard(s) {meta['missing_shards']}" if meta["missing_shards"] else ""))
    return report.write(Path(args.out), reproducers=not args.no_reproducers)
