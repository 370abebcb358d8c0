"""The replay corpus and Hypothesis's example database: what one run finds, later
runs check again first, on identical inputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conformance import cells as matrix, corpus, search
from conformance.vocab.case import Case
from conformance.vocab.records import Record
from fakes import record
from conformance.cli import main
from conformance.results import load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_corpus(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(corpus, "CORPUS_DIR", tmp_path / "corpus")
    corpus.clear_cache()
    matrix.clear_case_cache()
    yield tmp_path / "corpus"
    corpus.clear_cache()
    matrix.clear_case_cache()


def _case(x: list[float], loss: str = "mse", note: str = "") -> Case:
    return Case(loss=loss, variant="plain", reduction="mean",
                arrays={"input": np.array(x), "target": np.zeros(len(x))}, note=note)


def test_cases_round_trip_through_the_corpus_once_each(empty_corpus):
    first, second = _case([1.0, float("nan")]), _case([2.0, -np.inf])
    assert corpus.add([first, second, first]) == {"mse": 2}
    assert corpus.add([second]) == {}
    got = corpus.cases("mse")
    assert [c.id for c in got] == [first.id, second.id]
    assert all(c.origin == "corpus" for c in got)
    np.testing.assert_array_equal(got[0].arrays["input"], [1.0, np.nan])
    header = json.loads((empty_corpus / "mse.jsonl").read_text().splitlines()[0])
    assert header == {"corpus_format": corpus.FORMAT, "loss": "mse"}


def test_the_corpus_identity_changes_with_its_cases(empty_corpus):
    before = corpus.identity()
    corpus.add([_case([3.0])])
    after = corpus.identity()
    assert (before["cases"], after["cases"]) == (0, 1)
    assert before["digest"] != after["digest"]


def test_a_corpus_of_another_format_or_a_broken_line_is_refused_with_its_place(empty_corpus):
    empty_corpus.mkdir()
    (empty_corpus / "mse.jsonl").write_text('{"corpus_format": 99, "loss": "mse"}\n')
    with pytest.raises(corpus.CorpusError, match="corpus format 99, this suite reads format 1"):
        corpus.cases("mse")
    (empty_corpus / "l1.jsonl").write_text('{"corpus_format": 1, "loss": "l1"}\n{"loss": "l1"\n')
    with pytest.raises(corpus.CorpusError, match=r"l1.jsonl:2: not JSON .*; not a corpus case"):
        corpus.cases("l1")


def _record(case: Case, outcome: str, origin: str, check: str = "value", framework: str = "torch") -> Record:
    return Record(case.id, case.loss, case.variant, case.reduction, origin, framework, "cpu", "float32", check,
                  outcome)


def test_counterexamples_keep_the_smallest_case_per_kind_of_failure_searched_first():
    big, small, searched, edge = _case([1.0, 2.0, 3.0]), _case([1.0, 2.0]), _case([5.0, 6.0, 7.0]), _case([9.0])
    found = {c.id: c for c in (big, small, searched, edge)}
    records = [_record(big, "mismatch", "hypothesis"), _record(small, "mismatch", "hypothesis"),
               _record(small, "agree", "hypothesis", "grad:input"), _record(edge, "mismatch", "edge"),
               _record(big, "nonfinite-mismatch", "hypothesis", "grad:input"),
               _record(searched, "mismatch", "search", framework="jax"),
               _record(big, "mismatch", "hypothesis", framework="jax")]
    picked = corpus.counterexamples(records, found)
    assert [c.id for c in picked] == [searched.id, small.id, big.id]
    assert all(c.origin == "corpus" for c in picked)
    assert picked[0].note == "search counterexample: jax float32 value mismatch"


def test_the_engine_replays_the_corpus_first(empty_corpus):
    assert [c.source for c in matrix.cells(("mse",))][:2] == ["edge", "document"]
    corpus.add([_case([4.0, 5.0])])
    cells = matrix.cells(("mse",))
    assert cells[0] == matrix.Cell("mse", "corpus")
    assert [c.id for c in matrix.cases_for(cells[0], 4, 0)] == [_case([4.0, 5.0]).id]


@pytest.mark.slow
def test_a_counterexample_found_once_is_replayed_by_a_run_that_would_not_find_it(empty_corpus, tmp_path):
    """A float32 log1p(exp(x)) overflows for logits above ~88: the ci profile finds such
    cases; a quick run with another seed checks the same cases first, with the same verdict."""
    wrong = tmp_path / "naive_softplus.py"
    wrong.write_text("from wrong_adapters import WRONG\n"
                     "W = [w for w in WRONG if w.name == 'bce_naive_softplus'][0]\n"
                     "ADAPTER = type('Naive', (W,), {'name': 'handwritten'})\n")
    common = ["--losses", "bce_with_logits", "--adapter", str(wrong), "--dtypes", "float32", "--isolation", "none"]
    assert main(["run", "--profile", "ci", *common, "--out", str(tmp_path / "found")]) in (0, 1)
    assert main(["corpus", "add", str(tmp_path / "found")]) == 0
    replayed = corpus.cases("bce_with_logits")
    assert replayed, "the search found no counterexample to keep"

    def verdicts(out: Path) -> dict:
        _, records, _ = load(out)
        return {(r.case, r.check): (r.origin, r.outcome) for r in records if r.mode is None}   # plain calls
    corpus.clear_cache()
    matrix.clear_case_cache()
    assert main(["run", "--profile", "quick", "--seed", "123", *common, "--out", str(tmp_path / "again")]) in (0, 1)
    meta, _, _ = load(tmp_path / "again")
    assert meta["corpus"]["cases"] == len(replayed)
    before, again = verdicts(tmp_path / "found"), verdicts(tmp_path / "again")
    for case in replayed:
        mine = {k: v for k, v in again.items() if k[0] == case.id}
        assert mine and all(origin == "corpus" for origin, _ in mine.values())
        assert {k: o for k, (_, o) in mine.items()} == {k: before[k][1] for k in mine}
        assert any(o != "agree" for _, o in mine.values())


def test_the_example_database_brings_back_an_earlier_search_s_worst_case(tmp_path):
    """Two searches of the same cell with different seeds: the second explores one
    case only, yet with the database it starts from the first one's worst."""
    def run_check(case: Case) -> list[Record]:
        return [record("agree", error_eps=float(np.max(np.abs(case.arrays["input"]), initial=0.0)))]

    def worst(seed_value: int, examples: int, database) -> float:
        found = search.worst_case("mse", "plain", "mean", run_check, examples=examples, seed_value=seed_value,
                                  shrink_budget=5, database=database, database_key="mse-plain-mean:test")
        return found.score
    first = worst(1, 40, None)
    alone = worst(2, 1, None)
    assert alone < first
    db = search.DirectoryBasedExampleDatabase(str(tmp_path / "db"))
    assert worst(1, 40, db) >= first
    assert worst(2, 1, db) >= first
