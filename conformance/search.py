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

Deterministic for a seed, like ``strategies.draw_cases``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, given, seed, settings, target
from hypothesis.errors import Flaky

from . import catalog, strategies
from .case import Case
from .compare import FAILING

SCORE_CAP = 1e300       # hypothesis.target needs a finite score


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
        e = r.get("policy_error_eps") if r["outcome"] == "documented" else r.get("error_eps")
        if isinstance(e, (int, float)) and math.isfinite(e):
            best = max(best, float(e))
    return min(best, SCORE_CAP)


class _ReachedWorst(Exception):
    pass


class _StopShrinking(BaseException):
    """Not an Exception: Hypothesis lets it through instead of shrinking it."""


def worst_case(loss: str, variant: str, reduction: str, run_check: Callable[[Case], list[dict[str, Any]]],
               *, examples: int, seed_value: int, shrink_budget: int = 40) -> Worst | None:
    """The worst (shrunk) case for ``run_check`` (one framework, device, dtype)."""
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

    run(explore, [Phase.generate, Phase.target])
    if not memo:
        return None
    explored = len(memo)
    worst = max(memo.values(), key=lambda entry: entry[2])
    failures = [(dataclasses.replace(c, origin="search", note="a failing case met by the targeted search"), rs)
                for c, rs, _ in memo.values() if c.id != worst[0].id and any(r["outcome"] in FAILING for r in rs)]
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
    return Worst(_as_found(case, value, explored), records, value, explored, shrink_budget - left, bool(failing),
                 [f for f in failures if f[0].id != case.id])


def _as_found(case: Case, value: float, explored: int) -> Case:
    return dataclasses.replace(case, origin="search",
                               note=f"worst error found by a targeted search of {explored} cases: {value:.3g} eps")
