"""``baseline``, ``gate`` and ``diff``: a run's cells against a baseline's or another run's.
``gate`` prints its verdict first and then writes the files asked for, each on its own."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports import gate, gate_groups, gate_outputs
from reports.gate import BaselineError

from ..coverage import render
from ..results import load
from ..vocab.atomic import write_text
from .options import EXIT_USAGE, UsageError, count, growth_factor


def add(sub: argparse._SubParsersAction) -> None:
    base = sub.add_parser("baseline", help="write a baseline file from a results directory")
    base.add_argument("results")
    base.add_argument("--out", required=True, help="baseline JSON file to write (gzip-compressed if it ends in .gz)")
    base.add_argument("--partial", action="store_true",
                      help="take a baseline of a run that did not finish (its cells only)")
    base.set_defaults(func=baseline)
    judge = sub.add_parser(
        "gate", help="exit 1 when a run is worse than a baseline in any cell",
        description="Judge a run against a baseline, cell by cell, with the changes grouped by cause. "
                    "A regression is a new outcome other than agree, a cell the run did not check, or a worst "
                    "error grown by more than --factor to past the dtype's tolerance k; a worst error grown "
                    "by more than --factor but still within k is a warning.",
        epilog="exit status: 0 no regression (warnings allowed); 1 at least one regression; 2 a baseline or "
               "results directory that cannot be used, or an output file (--markdown, --junit, --json) that "
               "could not be written (the others are written and the verdict printed all the same)")
    judge.add_argument("--baseline", required=True, help="baseline JSON (from 'baseline') or a results directory")
    judge.add_argument("results", help="results directory of the run to judge")
    judge.add_argument("--factor", type=growth_factor, default=2.0,
                       help="worst-error growth that counts, a finite number > 1 (default 2)")
    judge.add_argument("--limit", type=count(0), default=50, help="groups printed per severity (default 50)")
    judge.add_argument("--allow-other-settings", action="store_true",
                       help="compare even when profile, seed or corpus differ from the baseline's")
    for name, (what, _) in gate_outputs.FORMATS.items():
        judge.add_argument(f"--{name}", metavar="FILE", help=f"also write the verdict as {what} to FILE")
    judge.set_defaults(func=gate_command)
    diff = sub.add_parser("diff", help="two runs (results directories or baselines) side by side")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--ignore-device", action="store_true", help="compare cells across devices (CPU vs GPU)")
    diff.add_argument("--all", action="store_true", help="every cell, not only those that differ")
    diff.set_defaults(func=diff_command)


def cells_of(path: str, ignore: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """(header, cells) of a results directory or a baseline file."""
    if not Path(path).exists():
        raise UsageError(f"{path} does not exist (expected a results directory or a baseline file)")
    if Path(path).is_dir():
        meta, records, _ = load(Path(path))
        return meta, gate.cells(records, ignore)
    data = gate.load_baseline(Path(path))
    if not ignore:
        return data, data["cells"]
    merged: dict = {}
    for key, stat in data["cells"].items():
        k = tuple(None if f in ignore else v for f, v in zip(gate.KEY_FIELDS, key))
        into = merged.setdefault(k, gate.CellStat())
        into.outcomes.update(stat.outcomes)
        into.worst_error_eps = max(into.worst_error_eps, stat.worst_error_eps)
    return data, merged


def baseline(args: argparse.Namespace) -> int:
    meta, records, _ = load(Path(args.results))
    if "finished" not in meta and not args.partial:
        why = (meta.get("stopped") or {}).get("why", "it is still running or was killed")
        raise UsageError(f"{args.results} is a run that did not finish ({why}): a baseline of it would hold only "
                         "the cells it reached; finish it with 'run --resume', or give --partial")
    data = gate.baseline(records, meta)
    gate.write_baseline(Path(args.out), data)
    print(f"baseline of {len(data['cells'])} cells written to {Path(args.out).resolve()}")
    return 0


def gate_command(args: argparse.Namespace) -> int:
    base, before = cells_of(args.baseline)
    if not Path(args.results).is_dir():
        raise UsageError(f"{args.results} is not a results directory (from 'python -m conformance run')")
    meta, records, _ = load(Path(args.results))
    after = gate.cells(records)
    differences = gate.incompatible(base, meta)
    if differences and not args.allow_other_settings:
        raise BaselineError(f"baseline {args.baseline} was taken with other settings than {args.results} "
                            f"({'; '.join(differences)}): the cells would be compared on different inputs. "
                            "Rerun with the baseline's profile and seed, regenerate the baseline "
                            "('python -m conformance baseline'), or pass --allow-other-settings")
    changes = gate.compare(before, after, args.factor)
    groups = gate_groups.group([c for part in changes for c in part], after, gate_groups.reasons(records))
    verdict = gate_outputs.Verdict(args.baseline, args.results, args.factor, groups,
                                   {"baseline": base.get("frameworks", {}), "run": meta.get("frameworks", {})})
    print(f"baseline: {args.baseline} ({', '.join(f'{k} {v}' for k, v in base.get('frameworks', {}).items())})")
    print(f"run:      {args.results} ({', '.join(f'{k} {v}' for k, v in meta.get('frameworks', {}).items())})")
    print("\n".join(gate_outputs.terminal(verdict, args.limit)))
    if write_outputs(verdict, args):
        return EXIT_USAGE
    return 1 if verdict.failed else 0


def write_outputs(verdict: gate_outputs.Verdict, args: argparse.Namespace) -> int:
    """Write each output asked for, each on its own: one that cannot be written is an
    error message and does not stop the others. Returns how many failed."""
    failed = 0
    for name, (what, render) in gate_outputs.FORMATS.items():
        path = getattr(args, name)
        if path is None:
            continue
        try:
            write_text(Path(path), render(verdict))
        except OSError as exc:
            failed += 1
            print(f"error: could not write the {what} (--{name}) to {path}: {exc.strerror or exc}", file=sys.stderr)
        else:
            print(f"{what} written to {path}")
    return failed


def diff_command(args: argparse.Namespace) -> int:
    ignore = ("device",) if args.ignore_device else ()
    (_, a), (_, b) = cells_of(args.a, ignore), cells_of(args.b, ignore)
    rows = gate.diff_rows(a, b, args.all)
    print(render(rows, ["cell", "A outcomes", "A worst eps", "B outcomes", "B worst eps"]))
    print(f"{len(rows)} of {len(set(a) | set(b))} cells shown" + ("" if args.all else " (those that differ)"))
    return 0
