"""The worst-case search (conformance/search.py): hypothesis.target pointed at the
error, the worst case shrunk, deterministic per seed; and how the engine runs it."""
from __future__ import annotations

import json
import math

import numpy as np

from adapters.base import Recipe
from conformance import engine, profiles, search
from conformance.engine import Cell, check
from fakes import Fake, correct, exact, record


def wrong_when_large(value, grads, arrays):
    """A kernel that loses accuracy (relative 1e-3) once an input exceeds 50 in magnitude."""
    return value * (1 + 1e-3) if np.max(np.abs(arrays["input"]), initial=0) > 50 else value, grads


def large_input_bug() -> Fake:
    right = exact("mse").fn
    return Fake({"mse": Recipe(lambda a, p, r: wrong_when_large(*right(a, p, r), a), "fake.mse")})


def run(adapter, dtype="float32", seed=1, examples=10, shrink=20, cell=("mse", "plain", "sum")):
    return search.worst_case(*cell, lambda c: check(c, adapter, "cpu", dtype),
                             examples=examples, seed_value=seed, shrink_budget=shrink)


def test_a_correct_adapter_has_a_worst_case_within_tolerance():
    worst = run(correct("mse"))
    assert worst.case.origin == "search" and "targeted search" in worst.case.note
    assert 0 <= worst.score <= 16 and {r.outcome for r in worst.records} == {"agree"}
    assert worst.failures == []


def test_the_search_reports_the_failure_it_finds_and_shrinks_it():
    worst = run(large_input_bug())
    value = next(r for r in worst.records if r.check == "value")
    assert value.outcome == "mismatch"
    assert np.max(np.abs(worst.case.arrays["input"])) > 50          # the trigger survives shrinking
    assert worst.shrunk and worst.shrink_checks <= 20
    assert worst.score == max(search.score(rs) for _, rs in [(worst.case, worst.records), *worst.failures])


def test_shrinking_never_reports_a_smaller_error_than_exploration_found():
    explored = []

    def spy(c):
        records = check(c, large_input_bug(), "cpu", "float32")
        explored.append(search.score(records))
        return records
    worst = search.worst_case("mse", "plain", "sum", spy, examples=10, seed_value=3, shrink_budget=20)
    assert worst.score >= max(explored[:worst.explored])


def test_the_search_is_deterministic_for_a_seed():
    assert run(large_input_bug(), seed=7).case.id == run(large_input_bug(), seed=7).case.id


def test_the_score_is_the_largest_finite_error_and_a_documented_record_counts_beyond_its_policy():
    records = [record("agree", error_eps=3.0), record("nonfinite-mismatch", error_eps="inf"),
               record("documented", error_eps=1e9, policy_error_eps=5.0), record("error-mismatch", error_eps=None)]
    assert search.score(records) == 5.0
    assert search.score([record("mismatch", error_eps=math.inf)]) == 0.0


def test_the_engine_searches_the_profiles_dtypes_and_stamps_the_records():
    profile = profiles.Profile("t", examples=2, dtypes=("float32",), description="", search_examples=4,
                               search_shrink=4, search_dtypes=("float32",))
    found = engine.searched(Cell("mse", "generated", "plain", "mean"), correct("mse"), "cpu", "float32", profile, seed=0)
    (case, records), *rest = found
    assert case.origin == "search" and rest == []
    assert {r.origin for r in records} == {"search"}
    assert records[0].search["explored"] >= 1
    assert engine.searched(Cell("mse", "generated", "plain", "mean"), correct("mse"), "cpu", "float64", profile, 0) == []
    assert engine.searched(Cell("mse", "edge"), correct("mse"), "cpu", "float32", profile, 0) == []


# ---------------------------------------------------------- the search in a worker

def _keyed(found):
    return [(c.id, [(r.check, r.outcome, json.dumps(r.error_eps), r.origin) for r in rs])
            for c, rs in found]


def test_a_worker_searches_exactly_as_this_process_does():
    from conformance import frameworks
    from conformance.worker import IsolatedAdapter
    profile = profiles.get("default")
    cell = Cell("bce_with_logits", "generated", "plain", "mean")
    here = engine.searched(cell, frameworks.get("numpy"), "cpu", "float32", profile, seed=0)
    worker = IsolatedAdapter("numpy")
    try:
        there = engine.searched(cell, worker, "cpu", "float32", profile, seed=0)
    finally:
        worker.close()
    assert here and _keyed(there) == _keyed(here)
    assert any(rs[0].search is not None for _, rs in there)          # the worst case's search statistics came back


def test_a_search_whose_worker_dies_is_searched_here_case_by_case():
    from conformance import frameworks
    from conformance.worker import SEARCH, IsolatedAdapter

    class DiesOnSearch(IsolatedAdapter):
        def _call(self, message, timeout=None):
            if message["op"] == SEARCH:
                self._kill()
                return "crash", "planted: the worker died during the search"
            return super()._call(message, timeout)
    profile = profiles.get("default")
    cell = Cell("bce_with_logits", "generated", "plain", "mean")
    worker = DiesOnSearch("numpy")
    try:
        there = engine.searched(cell, worker, "cpu", "float32", profile, seed=0)
    finally:
        worker.close()
    assert _keyed(there) == _keyed(engine.searched(cell, frameworks.get("numpy"), "cpu", "float32", profile, seed=0))
