"""Search for the worst input of a cell: Hypothesis pointed at the largest error.

For one (loss, variant, reduction) on one framework, device and dtype:

1. **Explore.** ``hypothesis.target`` steers generation towards the largest
   error (in eps units; for a ``documented`` record, the error beyond the
   documented policy) over ``examples`` cases.
2. **Shrink.** The same seeded exploration is replayed with the test failing
   at any case whose error reaches the worst found; Hypothesis shrinks that
   failure to a simpler case with an error at least as large, and the minimal
   one is reported. Checks are memoised by case id, so the replay costs
   nothing until it reaches the worst case, and shrinking is capped at
   ``shrink_budget`` new checks: past it the search stops and keeps the last
   failing case, which the shrinker only ever replaces by a simpler one.

Deterministic for a seed, like ``strategies.draw_cases`` — unless a profile
keeps Hypothesis's example database between runs (``database = true``): then
each search first checks the worst cases that earlier searches of the same
cell, framework, device and dtype kept there (as serialised cases, so they
replay exactly whatever the strategies draw now), and a worst case once found
is not lost to a new seed. The database lives in
``.hypothesis/examples`` (``CONFORMANCE_HYPOTHESIS_DB`` moves it; ``none``
turns it off). The ``ci`` profile keeps none: it is derandomised, and what it
must replay is in the committed corpus.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

import os

from hypothesis import HealthCheck, Phase, given, seed, settings, target
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import Flaky

from . import strategies

from .vocab import catalog
from .vocab.case import Case
from .vocab.records import FAILING

SCORE_CAP = 1e300       # hypothesis.target needs a finite score
KEEP = 4                # worst cases kept per cell, framework, device and dtype
DATABASE_ENV, DATABASE_DEFAULT = "CONFORMANCE_HYPOTHESIS_DB", ".hypothesis/examples"


def example_database_path() -> str | None:
    where = os.environ.get(DATABASE_ENV, DATABASE_DEFAULT)
    return None if where.lower() == "none" else where


def example_database() -> ExampleDatabase | None:
    """Hypothesis's example database, kept between runs (None when switched off)."""
    where = example_database_path()
    return None if where is None else DirectoryBasedExampleDatabase(where)


@dataclass(frozen=True)
class Worst:
    case: Case
    records: list[dict[str, Any]]
    score: float
    explored: int           # cases checked while exploring
    shrink_checks: int      # further cases checked while shrinking
    shrunk: bool            # False when the shrink replay did not reach the worst case
    failures: list[tuple[Case, list[dict[str, Any]]]]   # other explored cases with a failing check


def score(records: list[dict[str, Any]]) -> float:
    """The largest numeric error of a case's records, in eps units; for a
    documented record the error beyond its policy. Non-numeric errors (NaN/Inf
    mismatches, refusals) are outcomes of their own, not accuracy: 0."""
    best = 0.0
    for r in records:
        e = r.policy_error_eps if r.outcome == "documented" else r.error_eps
        if isinstance(e, (int, float)) and math.isfinite(e):
            best = max(best, float(e))
    return min(best, SCORE_CAP)


class _ReachedWorst(Exception):
    pass


class _StopShrinking(BaseException):
    """Not an Exception: Hypothesis lets it through instead of shrinking it."""


def worst_case(loss: str, variant: str, reduction: str, run_check: Callable[[Case], list[dict[str, Any]]],
               *, examples: int, seed_value: int, shrink_budget: int = 40,
               database: ExampleDatabase | None = None, database_key: str = "") -> Worst | None:
    """The worst (shrunk) case for ``run_check`` (one framework, device, dtype).
    With a ``database`` (Hypothesis's example database), the worst case is kept
    under ``database_key`` (one per cell, framework, device and dtype) and the
    next search checks what was kept before it explores."""
    spec = catalog.get(loss)
    strategy = strategies.cases(spec, variant, reduction)
    memo: dict[str, tuple[Case, list[dict[str, Any]], float]] = {}
    left = shrink_budget

    def checked(case: Case) -> tuple[Case, list[dict[str, Any]], float]:
        if case.id not in memo:
            records = run_check(case)
            memo[case.id] = (case, records, score(records))
        return memo[case.id]

    def run(test: Callable[[Case], None], phases: list[Phase]) -> None:
        wrapped = seed(seed_value)(settings(
            max_examples=examples, database=None, phases=phases, deadline=None,
            suppress_health_check=list(HealthCheck))(given(strategy)(test)))
        with strategies.HYPOTHESIS_LOCK, strategies.without_local_constants():
            wrapped()

    def explore(case: Case) -> None:
        target(checked(case)[2], label="error in eps")

    key = f"loss-conformance/{database_key}".encode()
    kept = _kept(database, key, loss)
    for case in kept:                     # what earlier searches of this cell found, first
        checked(case)
    run(explore, [Phase.generate, Phase.target])
    if not memo:
        return None
    explored = len(memo)
    worst = max(memo.values(), key=lambda entry: entry[2])
    failures = [(dataclasses.replace(c, origin="search", note="a failing case met by the targeted search"), rs)
                for c, rs, _ in memo.values() if c.id != worst[0].id and any(r.outcome in FAILING for r in rs)]
    if worst[2] <= 0:
        return Worst(_as_found(worst[0], worst[2], explored), worst[1], worst[2], explored, 0, False, failures)
    threshold = worst[2]
    failing: list[tuple[Case, list[dict[str, Any]], float]] = []

    def replay(case: Case) -> None:
        nonlocal left
        if case.id not in memo:
            if left == 0:
                raise _StopShrinking
            left -= 1
        entry = checked(case)
        target(entry[2], label="error in eps")
        if entry[2] >= threshold:
            failing.append(entry)
            raise _ReachedWorst

    try:
        run(replay, [Phase.generate, Phase.target, Phase.shrink])
    except (_ReachedWorst, _StopShrinking, Flaky):
        pass
    case, records, value = failing[-1] if failing else worst
    _keep(database, key, kept, case)
    return Worst(_as_found(case, value, explored), records, value, explored, shrink_budget - left, bool(failing),
                 [f for f in failures if f[0].id != case.id])


def _kept(database: ExampleDatabase | None, key: bytes, loss: str) -> list[Case]:
    """The worst cases earlier searches under ``key`` kept (unreadable entries are dropped)."""
    found = []
    for value in sorted(database.fetch(key)) if database is not None else ():
        try:
            case = Case.from_json(json.loads(value))
        except (ValueError, KeyError, TypeError):
            database.delete(key, value)
            continue
        if case.loss == loss:
            found.append(dataclasses.replace(case, origin="search"))
    return found


def _keep(database: ExampleDatabase | None, key: bytes, kept: list[Case], worst: Case) -> None:
    """Keep this search's worst case for the next one (the ``KEEP`` latest)."""
    if database is None:
        return
    value = json.dumps(worst.to_json(), sort_keys=True, allow_nan=False).encode()
    database.save(key, value)
    for old in kept[:max(0, len(kept) + 1 - KEEP)]:
        if old.id != worst.id:
            database.delete(key, json.dumps(old.to_json(), sort_keys=True, allow_nan=False).encode())


def _as_found(case: Case, value: float, explored: int) -> Case:
    return dataclasses.replace(case, origin="search",
                               note=f"worst error found by a targeted search of {explored} cases: {value:.3g} eps")
