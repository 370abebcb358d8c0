"""Command line: python -m conformance {run,report,bench,list,baseline,gate,diff,corpus,merge}.

Bad input (an unknown loss, framework, dtype, device or profile, an unreadable
results directory) gets one message naming what was wrong and what is accepted,
and exit code 2. Results are written as they are produced.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import errno
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import adapters
from adapters.base import DEVICES, AdapterContractError
from adapters.user import LOAD_TIMEOUT, AdapterLoadError, load_checked
from reports.gate import BaselineError

from . import catalog, corpus, engine, profiles, search, shards
from .compare import FAILING, OUTCOMES
from .dtypes import DTYPES
from .results import ResultsError, ResultWriter, load
from .schema import SchemaError
from .worker import IsolatedAdapter

EXIT_USAGE = 2


class UsageError(ValueError):
    pass


def _names(text: str | None, known: Sequence[str], what: str, plural: str = "") -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError(f"unknown {what} {', '.join(map(repr, unknown)) or '(empty)'}; "
                         f"known {plural or what + 's'}: {', '.join(known)}")
    return names


def _frameworks(requested: tuple[str, ...] | None, user_specs: Sequence[str] = (),
                all_builtins: bool = False, timeout: float = LOAD_TIMEOUT) -> tuple[list, dict[str, str], dict[str, str]]:
    """The adapters to run: the built-in frameworks asked for (all installed ones when
    none are named and no --adapter is given, or ``all_builtins``), then the users' adapters.
    Returns (adapters, name -> version, user adapter name -> its --adapter spec)."""
    chosen, versions, specs = [], {}, {}
    users = []
    for spec in user_specs:
        try:
            users.append(load_checked(spec, timeout))
        except AdapterLoadError as exc:
            raise UsageError(str(exc)) from None
        specs[users[-1].name] = spec
    for name in requested or (() if users and not all_builtins else tuple(adapters.names())):
        adapter = adapters.get(name)
        reason = adapter.unavailable()
        if reason is None:
            chosen.append(adapter)
            versions[name] = adapter.version()
        elif requested:
            raise UsageError(f"{reason}. Install it (pip install -e '.[{name}]') or leave it out of --frameworks")
        else:
            versions[name] = f"unavailable: {reason}"
    for adapter in users:
        if adapter.name in versions:
            raise UsageError(f"two adapters are named {adapter.name!r}")
        chosen.append(adapter)
        versions[adapter.name] = adapter.version()
    return chosen, versions, specs


def _environment(adapter) -> dict:
    try:
        return adapter.environment()
    except Exception as exc:  # noqa: BLE001 - metadata must not stop a run
        return {"error": f"{type(exc).__name__}: {exc}"}


MAX_TIMEOUT_S = 86_400.0       # a day: beyond it a "timeout" no longer bounds anything


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT_S:       # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0 and at most {MAX_TIMEOUT_S:g} "
                                         f"(a day), got {text!r}")
    return value


def _growth_factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number above 1, got {text!r}") from None
    if not 1 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number above 1 (how many times a worst error may "
                                         f"grow), got {text!r}")
    return value


def _count(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value
    return parse


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) during a run: the run stops unfinished, its results kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


def cmd_run(args: argparse.Namespace) -> int:
    with corpus.using(Path(args.corpus) if args.corpus else None):
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    profile = profiles.get(args.profile)
    losses = _names(args.losses, list(catalog.catalog()), "loss", "losses")
    dtypes = _names(args.dtypes, list(DTYPES), "dtype") or profile.dtypes
    devices = _names(args.devices, DEVICES, "device")
    requested = _names(args.frameworks, adapters.names(), "framework")
    if args.resume and args.force:
        raise UsageError("--resume continues the run in --out and --force replaces it: give one of them")
    if args.no_example_db:
        os.environ[search.DATABASE_ENV] = "none"       # the workers inherit it
    chosen, versions, specs = _frameworks(requested, args.adapter or (), timeout=args.timeout)
    # default: the CPU, and CUDA when any chosen framework sees a GPU
    devices = devices or tuple(d for d in DEVICES if d == "cpu" or any(d in a.devices() for a in chosen))
    seed = args.seed if args.seed is not None else (profile.seed or 0)
    cells = engine.cells(losses, profile)
    shard = shards.parse(args.shard) if args.shard else None
    if shard:
        cells = shards.select(cells, *shard)
    selection = {"losses": sorted(losses) if losses else "all", "frameworks": sorted(requested) if requested else "all",
                 "adapters": sorted(specs.values())}
    writer = ResultWriter(Path(args.out), {
        "profile": profile.name, "seed": seed, "dtypes": list(dtypes), "devices": list(devices),
        "frameworks": versions, "losses": sorted({c.loss for c in cells}), "selection": selection,
        "corpus": corpus.identity(),
        "hypothesis_database": (search.example_database_path() if profile.database else None),
        **({"shard": {"index": shard[0], "count": shard[1]}} if shard else {}),
        "environment": {a.name: _environment(a) for a in chosen},
        "command": " ".join(["python -m conformance", *map(shlex.quote, args.argv)])},
        resume=args.resume, force=args.force)
    checkers = chosen if args.isolation == "none" else [
        IsolatedAdapter(a.name, user_spec=specs.get(a.name), timeout=args.timeout)
        for a in chosen for _ in range(max(1, getattr(a, "workers", 1)))]
    start = time.perf_counter()
    loss, done = None, 0
    finished, why = False, ""
    units = engine.iterate(checkers, cells, dtypes, devices, profile, seed, writer.done,
                           parallel=args.isolation == "process")
    try:
        for unit in units:
            for case, records in unit.found:
                if case.loss != loss:
                    _progress(loss, done, start)
                    loss, done = case.loss, 0
                done += len(records)
            writer.add(unit.key, unit.found)
        _progress(loss, done, start)
        finished = True
    except (KeyboardInterrupt, Interrupted) as exc:
        why = f"interrupted by {'SIGINT' if isinstance(exc, KeyboardInterrupt) else exc}"
    except BaseException as exc:
        why = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        raise
    finally:
        units.close()               # an early end stops the engine's threads and workers
        for c in checkers:
            with contextlib.suppress(Exception):      # a worker half started when the run stopped
                getattr(c, "close", lambda **_: None)(**({} if finished else {"fast": True}))
        writer.close(finished=finished, why=why, elapsed_s=round(time.perf_counter() - start, 2))
    if not finished:
        print(f"error: {why}; the run is unfinished, its complete results are kept in {args.out}/ "
              f"(continue it with the same command and --resume)", file=sys.stderr)
        return 130 if why.endswith("SIGINT") else 128 + signal.SIGTERM
    _print_summary(writer.counts, Path(args.out), time.perf_counter() - start)
    failing = sum(n for (fw, o), n in writer.counts.items() if o in FAILING)
    print(f"{failing} failing check(s): {failing - writer.unexplained} explained by known findings, "
          f"{writer.unexplained} unexplained")
    return 1 if args.strict and writer.unexplained else 0


def _progress(loss: str | None, checks: int, start: float) -> None:
    if loss is not None:
        print(f"  {loss:<18} {checks:>7} checks  ({time.perf_counter() - start:7.1f} s)", file=sys.stderr, flush=True)


def _print_summary(counts: collections.Counter, out: Path, elapsed: float) -> None:
    outcomes = [o for o in OUTCOMES if any(k[1] == o for k in counts)]
    frameworks = sorted({fw for fw, _ in counts})
    print(f"{'framework':<12}" + "".join(f"{o:>20}" for o in outcomes))
    for fw in frameworks:
        print(f"{fw:<12}" + "".join(f"{counts[(fw, o)]:>20}" for o in outcomes))
    print(f"{sum(counts.values())} checks in {elapsed:.1f} s; results in {out}/")


def cmd_report(args: argparse.Namespace) -> int:
    from reports.outputs import write_all
    meta, records, cases = load(Path(args.results))
    out = Path(args.out) if args.out else Path(args.results) / "report.html"
    failed = 0
    for written in write_all(meta, records, cases, out):
        if written.error:
            failed += 1
            print(f"error: {written.what} not written to {written.path}: {written.error}", file=sys.stderr)
        else:
            print(f"{written.what} written to {written.path.resolve()}")
    if not args.no_reproducers:
        from reports.reproducers import write_beside
        print(write_beside(out, Path(args.results), meta, records, cases))
    return EXIT_USAGE if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench
    frameworks = _names(args.frameworks, adapters.names(), "framework") or tuple(adapters.names())
    dtype = _names(args.dtype, list(DTYPES), "dtype")[0]
    start = time.perf_counter()
    rows = bench.run(list(frameworks), dtype, args.repeat)
    print(bench.table(rows))
    print(f"{len(bench.bench_cases())} cases per framework, {dtype}, cpu; bench wall time "
          f"{time.perf_counter() - start:.1f} s")
    if args.out:
        from .results import write_json_atomic
        write_json_atomic(Path(args.out), rows)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from . import coverage
    for name in args.losses:
        catalog.get(name)                      # an unknown name: one message, exit 2
    chosen, versions, _ = _frameworks(None, args.adapter or (), all_builtins=True)
    unavailable = {n: v for n, v in versions.items() if v.startswith("unavailable")}
    found = coverage.entries(chosen, args.losses or None)
    if args.losses:
        print(coverage.details(found))
        return 0
    print(coverage.render(coverage.table(found, list(versions), unavailable), ["loss", "variants", *versions]))
    print()
    print(coverage.totals(found, [a.name for a in chosen]))
    return 0


def _cells_of(path: str, ignore: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """(header, cells) of a results directory or a baseline file."""
    from reports import gate
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


def cmd_baseline(args: argparse.Namespace) -> int:
    from reports import gate
    meta, records, _ = load(Path(args.results))
    data = gate.baseline(records, meta)
    gate.write_baseline(Path(args.out), data)
    print(f"baseline of {len(data['cells'])} cells written to {Path(args.out).resolve()}")
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from reports import gate
    base, before = _cells_of(args.baseline)
    if not Path(args.results).is_dir():
        raise UsageError(f"{args.results} is not a results directory (from 'python -m conformance run')")
    meta, after = _cells_of(args.results)
    differences = gate.incompatible(base, meta)
    if differences and not args.allow_other_settings:
        raise BaselineError(f"baseline {args.baseline} was taken with other settings than {args.results} "
                            f"({'; '.join(differences)}): the cells would be compared on different inputs. "
                            "Rerun with the baseline's profile and seed, regenerate the baseline "
                            "('python -m conformance baseline'), or pass --allow-other-settings")
    worse, better = gate.compare(before, after, args.factor)
    print(f"baseline: {args.baseline} ({', '.join(f'{k} {v}' for k, v in base.get('frameworks', {}).items())})")
    print(f"run:      {args.results} ({', '.join(f'{k} {v}' for k, v in meta.get('frameworks', {}).items())})")
    for title, changes in (("regressions", worse), ("improvements", better)):
        print(f"{len(changes)} {title}" + (":" if changes else ""))
        for c in changes[:args.limit]:
            print("  " + c.line())
        if len(changes) > args.limit:
            print(f"  ... and {len(changes) - args.limit} more")
    print("gate: FAIL" if worse else "gate: pass")
    return 1 if worse else 0


def cmd_diff(args: argparse.Namespace) -> int:
    from reports import gate
    ignore = ("device",) if args.ignore_device else ()
    (_, a), (_, b) = _cells_of(args.a, ignore), _cells_of(args.b, ignore)
    rows = gate.diff_rows(a, b, args.all)
    from .coverage import render
    print(render(rows, ["cell", "A outcomes", "A worst eps", "B outcomes", "B worst eps"]))
    print(f"{len(rows)} of {len(set(a) | set(b))} cells shown" + ("" if args.all else " (those that differ)"))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    meta = shards.merge([Path(d) for d in args.shards], Path(args.out), partial=args.partial, force=args.force)
    total = sum(meta["counts"].values())
    print(f"{len(meta['shards'])} shard(s), {total} records merged into {Path(args.out).resolve()}"
          + (f"; missing shard(s) {meta['missing_shards']}" if meta["missing_shards"] else ""))
    argv = ["report", str(args.out), *(["--no-reproducers"] if args.no_reproducers else [])]
    report = parser().parse_args(argv)
    report.argv = argv
    return report.func(report)


def cmd_corpus(args: argparse.Namespace) -> int:
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m conformance",
                                description="Differential conformance suite for loss functions.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the conformance matrix and write results")
    run.add_argument("--frameworks", help=f"comma list (default: all installed): {', '.join(adapters.names())}")
    run.add_argument("--adapter", action="append", metavar="SPEC",
                     help="your own adapter, module:attribute or path/to/file.py[:attribute] (repeatable); "
                          "with --adapter only the built-in frameworks named in --frameworks run")
    run.add_argument("--losses", help="comma list of catalog losses (default: all)")
    run.add_argument("--dtypes", help=f"comma list (default: the profile's): {', '.join(DTYPES)}")
    run.add_argument("--devices", help="comma list: cpu, cuda (default: cpu, and cuda when a framework sees a GPU)")
    run.add_argument("--profile", default="default", help=f"one of {', '.join(profiles.profiles())}")
    run.add_argument("--seed", type=int, help="seed for the generated cases (default: the profile's, else 0)")
    run.add_argument("--out", default="results", help="results directory (default: results)")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run in --out (same options): skip what it already holds")
    run.add_argument("--force", action="store_true",
                     help="replace the run (and its report, CSV, reproducers) that --out already holds")
    run.add_argument("--no-example-db", action="store_true",
                     help="keep no Hypothesis example database (as CONFORMANCE_HYPOTHESIS_DB=none): with it off, "
                          "the same seed, profile and versions give byte-identical results")
    run.add_argument("--isolation", choices=("process", "none"), default="process",
                     help="run each framework in its own worker process, so a crash or a hang costs one "
                          "case (default), or in this process")
    run.add_argument("--timeout", type=_positive_seconds, default=120.0,
                     help="seconds a case may take in a worker before it is a timeout, and a user's adapter to "
                          "load (default 120, at most a day)")
    run.add_argument("--corpus", metavar="DIR",
                     help="replay the corpus in DIR (<loss>.jsonl files) instead of the committed one")
    run.add_argument("--shard", metavar="K/N",
                     help="run only the K-th of N deterministic parts (whole losses); join them with 'merge'")
    run.add_argument("--strict", action="store_true", help="exit 1 when a check fails that no known finding explains")
    run.set_defaults(func=cmd_run)
    rep = sub.add_parser("report", help="render the HTML report of a results directory, with results.csv, "
                                        "results.parquet and summary.md (Markdown) beside it")
    rep.add_argument("results", help="a directory written by 'run'")
    rep.add_argument("--out", help="HTML file (default: RESULTS/report.html); the other outputs go in its folder")
    rep.add_argument("--no-reproducers", action="store_true",
                     help="do not write reproducers/ beside the report (per discrepancy: a standalone script, its "
                          "inputs and a draft bug report; writing and checking the scripts imports the frameworks)")
    rep.set_defaults(func=cmd_report)
    ben = sub.add_parser("bench", help="time a fixed case set per framework: suite vs the framework's own calls")
    ben.add_argument("--frameworks", help=f"comma list (default: all): {', '.join(adapters.names())}")
    ben.add_argument("--dtype", default="float32", help=f"one of {', '.join(DTYPES)} (default float32)")
    ben.add_argument("--repeat", type=_count(1), default=3, help="passes of the floor loop (default 3)")
    ben.add_argument("--out", help="also write the figures to this JSON file")
    ben.set_defaults(func=cmd_bench)
    lst = sub.add_parser("list", help="print the catalog with each framework's coverage; with loss "
                                      "names, what each framework calls for each variant (or why not)")
    lst.add_argument("losses", nargs="*", metavar="LOSS", help="losses to show in detail")
    lst.add_argument("--adapter", action="append", metavar="SPEC", help="add your own adapter's coverage")
    lst.set_defaults(func=cmd_list)
    base = sub.add_parser("baseline", help="write a baseline file from a results directory")
    base.add_argument("results")
    base.add_argument("--out", required=True, help="baseline JSON file to write (gzip-compressed if it ends in .gz)")
    base.set_defaults(func=cmd_baseline)
    gate = sub.add_parser("gate", help="exit 1 when a run is worse than a baseline in any cell")
    gate.add_argument("--baseline", required=True, help="baseline JSON (from 'baseline') or a results directory")
    gate.add_argument("results", help="results directory of the run to judge")
    gate.add_argument("--factor", type=_growth_factor, default=2.0,
                      help="worst-error growth that counts, a finite number > 1 (default 2)")
    gate.add_argument("--limit", type=_count(0), default=50, help="changes listed per kind (default 50)")
    gate.add_argument("--allow-other-settings", action="store_true",
                      help="compare even when profile, seed or corpus differ from the baseline's")
    gate.set_defaults(func=cmd_gate)
    mer = sub.add_parser("merge", help="join the results of 'run --shard K/N' parts into one run and report")
    mer.add_argument("shards", nargs="+", metavar="RESULTS", help="the shards' results directories")
    mer.add_argument("--out", required=True, help="results directory to write (the report goes inside)")
    mer.add_argument("--partial", action="store_true",
                     help="merge even when some shards are missing or unfinished (a run stopped by a time limit)")
    mer.add_argument("--no-reproducers", action="store_true", help="as for report")
    mer.add_argument("--force", action="store_true", help="replace the run that --out already holds")
    mer.set_defaults(func=cmd_merge)
    cor = sub.add_parser("corpus", help="the replay corpus: 'show' it, or 'add' a run's shrunk counterexamples")
    cor.add_argument("action", choices=("show", "add"))
    cor.add_argument("results", nargs="?", help="results directory (for add)")
    cor.set_defaults(func=cmd_corpus)
    diff = sub.add_parser("diff", help="two runs (results directories or baselines) side by side")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--ignore-device", action="store_true", help="compare cells across devices (CPU vs GPU)")
    diff.add_argument("--all", action="store_true", help="every cell, not only those that differ")
    diff.set_defaults(func=cmd_diff)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.argv = argv
    # SIGTERM as an exception, so that what a command writes is cleaned up or kept whole
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return args.func(args)
    except (KeyboardInterrupt, Interrupted) as exc:
        name = "SIGINT" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"error: interrupted by {name}; {args.command} stopped", file=sys.stderr)
        return 130 if name == "SIGINT" else 128 + signal.SIGTERM
    except (UsageError, ResultsError, BaselineError, corpus.CorpusError, shards.ShardError, profiles.UnknownProfile,
            catalog.UnknownLoss, SchemaError, AdapterContractError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an --out that is a file, an unreadable directory, a full disk ...
        why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        print(f"error: {why}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
