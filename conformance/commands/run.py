"""``run``: the conformance matrix, written as it is produced (results.jsonl,
cases.jsonl, progress.jsonl, run.json), resumable, stopped cleanly by a signal."""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.base import DEVICES

from .. import cells, corpus, engine, frameworks, oracle_store, profiles, search, shards
from ..profiles import Profile
from ..results import ResultWriter
from ..vocab import catalog
from ..vocab.dtypes import DTYPES
from ..vocab.modes import MODES, parse as parse_modes
from ..vocab.records import FAILING, OUTCOMES
from ..worker import IsolatedAdapter
from .progress import Progress
from .options import Interrupted, UsageError, chosen_frameworks, names, positive_seconds


def add(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the conformance matrix and write results")
    run.add_argument("--frameworks", help=f"comma list (default: all installed): {', '.join(frameworks.names())}")
    run.add_argument("--adapter", action="append", metavar="SPEC",
                     help="your own adapter, module:attribute or path/to/file.py[:attribute] (repeatable); "
                          "with --adapter only the built-in frameworks named in --frameworks run")
    run.add_argument("--losses", help="comma list of catalog losses (default: all)")
    run.add_argument("--dtypes", help=f"comma list (default: the profile's): {', '.join(DTYPES)}")
    run.add_argument("--devices", help="comma list: cpu, cuda (default: cpu, and cuda when a framework sees a GPU)")
    run.add_argument("--modes", help=f"comma list of execution modes checked besides each framework's default, "
                                      f"on the cases the profile samples: {', '.join(MODES)}, or 'all', or 'none' "
                                      f"(default: the profile's)")
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
    run.add_argument("--timeout", type=positive_seconds, default=120.0,
                     help="seconds a case may take in a worker before it is a timeout, and a user's adapter to "
                          "load (default 120, at most a day)")
    run.add_argument("--corpus", metavar="DIR",
                     help="replay the corpus in DIR (<loss>.jsonl files) instead of the committed one")
    run.add_argument("--shard", metavar="K/N",
                     help="run only the K-th of N deterministic parts (whole losses); join them with 'merge'")
    run.add_argument("--strict", action="store_true", help="exit 1 when a check fails that no known finding explains")
    run.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    with corpus.using(Path(args.corpus) if args.corpus else None):
        plan = _plan(args)
        writer = _writer(args, plan)
        checkers = plan.chosen if args.isolation == "none" else [
            IsolatedAdapter(a.name, user_spec=plan.specs.get(a.name), timeout=args.timeout,
                            default_mode=getattr(a, "default_mode", "eager"))
            for a in plan.chosen for _ in range(max(1, getattr(a, "workers", 1)))]
        start = time.perf_counter()
        with oracle_store.sharing():            # the workers read each other's costly oracle answers
            finished, why = _drive(args, plan, checkers, writer, start)
    if not finished:
        print(f"error: {why}; the run is unfinished, its complete results are kept in {args.out}/ "
              f"(continue it with the same command and --resume)", file=sys.stderr)
        return 130 if why.endswith("SIGINT") else 128 + signal.SIGTERM
    _print_summary(writer.counts, Path(args.out), time.perf_counter() - start)
    failing = sum(n for (fw, o), n in writer.counts.items() if o in FAILING)
    print(f"{failing} failing check(s): {failing - writer.unexplained} explained by known findings, "
          f"{writer.unexplained} unexplained")
    return 1 if args.strict and writer.unexplained else 0


@dataclass
class _Plan:
    """What the options select: the profile, the cells, the dtypes and devices, the adapters."""
    profile: Profile
    losses: tuple[str, ...] | None
    dtypes: tuple[str, ...]
    devices: tuple[str, ...]
    modes: tuple[str, ...]
    requested: tuple[str, ...] | None
    chosen: list[Any]
    versions: dict[str, str]
    specs: dict[str, str]
    seed: int
    cells: list[cells.Cell]
    shard: tuple[int, int] | None


def _plan(args: argparse.Namespace) -> _Plan:
    profile = profiles.get(args.profile)
    losses = names(args.losses, list(catalog.catalog()), "loss", "losses")
    dtypes = names(args.dtypes, list(DTYPES), "dtype") or profile.dtypes
    devices = names(args.devices, DEVICES, "device")
    modes = chosen_modes(args.modes, profile)
    requested = names(args.frameworks, frameworks.names(), "framework")
    if args.resume and args.force:
        raise UsageError("--resume continues the run in --out and --force replaces it: give one of them")
    if args.no_example_db:
        os.environ[search.DATABASE_ENV] = "none"       # the workers inherit it
    chosen, versions, specs = chosen_frameworks(requested, args.adapter or (), timeout=args.timeout)
    # default: the CPU, and CUDA when any chosen framework sees a GPU
    devices = devices or tuple(d for d in DEVICES if d == "cpu" or any(d in a.devices() for a in chosen))
    cell_list = cells.cells(losses, profile)
    shard = shards.parse(args.shard) if args.shard else None
    if shard:
        cell_list = shards.select(cell_list, *shard)
    seed = args.seed if args.seed is not None else profile.run_seed
    return _Plan(profile, losses, dtypes, devices, modes, requested, chosen, versions, specs, seed, cell_list, shard)


def chosen_modes(option: str | None, profile: Profile) -> tuple[str, ...]:
    """``--modes``: a comma list, 'all' or 'none'; without it, the profile's."""
    try:
        return parse_modes(option, profile.modes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _writer(args: argparse.Namespace, plan: _Plan) -> ResultWriter:
    """The results directory, with run.json saying what was asked and on what."""
    selection = {"losses": sorted(plan.losses) if plan.losses else "all",
                 "frameworks": sorted(plan.requested) if plan.requested else "all",
                 "adapters": sorted(plan.specs.values())}
    return ResultWriter(Path(args.out), {
        "profile": plan.profile.name, "seed": plan.seed, "dtypes": list(plan.dtypes), "devices": list(plan.devices),
        **({"modes": list(plan.modes)} if plan.modes else {}),
        "frameworks": plan.versions, "losses": sorted({c.loss for c in plan.cells}), "selection": selection,
        "corpus": corpus.identity(),
        "hypothesis_database": (search.example_database_path() if plan.profile.database else None),
        **({"shard": {"index": plan.shard[0], "count": plan.shard[1]}} if plan.shard else {}),
        "environment": {a.name: _environment(a) for a in plan.chosen},
        "command": " ".join(["python -m conformance", *map(shlex.quote, args.argv)])},
        resume=args.resume, force=args.force)


def _environment(adapter: Any) -> dict:
    try:
        return adapter.environment()
    except Exception as exc:  # noqa: BLE001 - metadata must not stop a run
        return {"error": f"{type(exc).__name__}: {exc}"}


def _drive(args: argparse.Namespace, plan: _Plan, checkers: list[Any], writer: ResultWriter,
           start: float) -> tuple[bool, str]:
    """Every unit into the writer; (finished, why not). An abnormal end leaves the
    run unfinished, its complete units kept."""
    finished, why = False, ""
    units = engine.iterate(checkers, plan.cells, plan.dtypes, plan.devices, plan.profile, plan.seed, writer.done,
                           parallel=args.isolation == "process", modes=plan.modes)
    try:
        planned = engine.planned(checkers, plan.cells, plan.dtypes, plan.devices, plan.profile, plan.seed,
                                 writer.done, modes=plan.modes)
        with Progress(len(planned), start) as progress:
            for unit in units:
                writer.add(unit.key, unit.found)
                loss = planned.get(unit.key) or (unit.found[0][0].loss if unit.found else progress.loss or "?")
                progress.unit(loss, sum(len(records) for _case, records in unit.found))
            progress.finish_loss()
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
    return finished, why


def _print_summary(counts: collections.Counter, out: Path, elapsed: float) -> None:
    outcomes = [o for o in OUTCOMES if any(k[1] == o for k in counts)]
    shown = sorted({fw for fw, _ in counts})
    print(f"{'framework':<12}" + "".join(f"{o:>20}" for o in outcomes))
    for fw in shown:
        print(f"{fw:<12}" + "".join(f"{counts[(fw, o)]:>20}" for o in outcomes))
    print(f"{sum(counts.values())} checks in {elapsed:.1f} s; results in {out}/")
