"""``bench``: a fixed case set per framework, the suite's time against the
framework's own calls (conformance/bench.py measures)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from .. import bench, compile_keys, frameworks, profiles
from ..results import write_json_atomic
from ..vocab.dtypes import DTYPES
from .options import count, names


def add(sub: argparse._SubParsersAction) -> None:
    ben = sub.add_parser("bench", help="time a fixed case set per framework: suite vs the framework's own calls")
    ben.add_argument("--frameworks", help=f"comma list (default: all): {', '.join(frameworks.names())}")
    ben.add_argument("--dtype", default="float32", help=f"one of {', '.join(DTYPES)} (default float32)")
    ben.add_argument("--repeat", type=count(1), default=3, help="passes of the floor loop (default 3)")
    ben.add_argument("--out", help="also write the figures to this JSON file")
    ben.add_argument("--compile-keys", metavar="PROFILE",
                     help="instead: count the executables a compiling framework builds for PROFILE's cases")
    ben.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.compile_keys is not None:
        found = compile_keys.count(profiles.get(args.compile_keys))
        print(compile_keys.table(found))
        if args.out:
            write_json_atomic(Path(args.out), found)
        return 0
    chosen = names(args.frameworks, frameworks.names(), "framework") or tuple(frameworks.names())
    dtype = names(args.dtype, list(DTYPES), "dtype")[0]
    start = time.perf_counter()
    rows = bench.run(list(chosen), dtype, args.repeat)
    print(bench.table(rows))
    print(f"{len(bench.bench_cases())} cases per framework, {dtype}, cpu; bench wall time "
          f"{time.perf_counter() - start:.1f} s")
    if args.out:
        write_json_atomic(Path(args.out), rows)
    return 0
