"""The regression gate: it passes an unchanged rerun, fails a planted regression (a real
run of a broken implementation under the baseline's name), shows improvements, and
refuses a baseline it cannot use with one clear message (exit 2), never a pass."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.vocab.records import Record
from reports import gate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "adapters" / "example_user_adapter.py")
RUN = ["run", "--profile", "quick", "--seed", "7", "--losses", "mse,bce_with_logits", "--isolation", "none"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A baseline run of the hand-written example adapter, an identical rerun, and a run
    of the same adapter "upgraded" with a bug (mse's gradient loses its factor 2)."""
    root = tmp_path_factory.mktemp("gate")
    upgraded = root / "upgraded.py"
    upgraded.write_text("from wrong_adapters import WRONG\n"
                        "W = [w for w in WRONG if w.name == 'mse_gradient_without_the_2'][0]\n"
                        "ADAPTER = type('Upgraded', (W,), {'name': 'handwritten'})\n")
    out = {}
    for name, adapter in (("before", EXAMPLE), ("again", EXAMPLE), ("upgraded", str(upgraded))):
        out[name] = root / name
        assert main([*RUN, "--adapter", adapter, "--out", str(out[name])]) in (0, 1)
    out["baseline"] = root / "baseline.json"
    assert main(["baseline", str(out["before"]), "--out", str(out["baseline"])]) == 0
    return out


@pytest.mark.slow
def test_an_unchanged_rerun_passes_the_gate(runs, capsys):
    assert main(["gate", "--baseline", str(runs["baseline"]), str(runs["again"])]) == 0
    out = capsys.readouterr().out
    assert "0 regressions" in out and "gate: pass" in out


@pytest.mark.slow
def test_a_planted_regression_fails_the_gate_and_names_the_cells(runs, capsys, tmp_path):
    out_json = tmp_path / "gate.json"
    assert main(["gate", "--baseline", str(runs["baseline"]), str(runs["upgraded"]), "--json", str(out_json)]) == 1
    out = capsys.readouterr().out
    assert "gate: FAIL" in out
    regressions = out.split("regressions")[1].split("warnings")[0]
    assert "handwritten mse: new outcome mismatch" in regressions and "bce_with_logits" not in regressions
    cells = {(c["loss"], c["variant"], c["reduction"], c["dtype"], c["check"], c["what"].split(" (")[0])
             for g in json.loads(out_json.read_text())["groups"] if g["severity"] == "regression" for c in g["cells"]}
    assert ("mse", "plain", "mean", "float64", "grad:input", "new outcome mismatch") in cells
    assert {c[0] for c in cells} == {"mse"}


def test_the_gate_shows_improvements_the_other_way_round(runs, capsys):
    worse = runs["baseline"].with_name("worse.json")
    assert main(["baseline", str(runs["upgraded"]), "--out", str(worse)]) == 0
    assert main(["gate", "--baseline", str(worse), str(runs["before"])]) == 0
    out = capsys.readouterr().out
    assert "0 regressions" in out and "mismatch is gone" in out


def test_error_growth_beyond_the_factor_is_a_warning_within_k_a_regression_past_it_and_noise_nothing():
    key = ("mse", "plain", "mean", "torch", "cpu", "float32", None, "value")
    before = {key: gate.CellStat(gate.collections.Counter(agree=3), 0.5)}
    noise = {key: gate.CellStat(gate.collections.Counter(agree=3), 1.9)}
    grown = {key: gate.CellStat(gate.collections.Counter(agree=3), 6.0)}
    past = {key: gate.CellStat(gate.collections.Counter(agree=3), 17.0)}
    assert gate.compare(before, noise) == ([], [], [])
    worse, warned, _ = gate.compare(before, grown, factor=2.0)
    assert not worse and [c.what for c in warned] == ["worst error grew 0.5 -> 6 eps, still within k = 16"]
    worse, warned, _ = gate.compare(before, past, factor=2.0)
    assert not warned and [c.what for c in worse] == ["worst error grew 0.5 -> 17 eps, past k = 16"]
    assert gate.compare(before, {}, factor=2.0).regressions[0].what.startswith("not checked")


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("{not json", "not JSON (Expecting property name"),
    ('{"schema": "other/9", "cells": []}', "schema 'other/9'"),
    ('[1, 2]', "schema 'list'"),
    ('{"schema": "loss-conformance-baseline/1", "cells": []}', "has no cells"),
    ('{"schema": "loss-conformance-baseline/1", "cells": [{"loss": "mse"}]}', "cell 0: missing variant"),
    ('{"schema": "loss-conformance-baseline/1", "cells": [{"loss": "mse", "variant": "plain", '
     '"reduction": "mean", "framework": "torch", "device": "cpu", "dtype": "float32", '
     '"check": "value", "outcomes": {"agree": "many"}, "worst_error_eps": 0}]}',
     'cell 0: outcomes.agree must be an integer, got "many"'),
])
@pytest.mark.slow
def test_a_baseline_that_cannot_be_used_exits_2_with_one_message(runs, tmp_path, capsys, content, message):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    assert main(["gate", "--baseline", str(path), str(runs["again"])]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_gate_on_something_that_is_not_a_results_directory_exits_2(runs, capsys):
    assert main(["gate", "--baseline", str(runs["baseline"]), str(runs["baseline"])]) == 2
    assert "not a results directory" in capsys.readouterr().err


@pytest.mark.slow
def test_diff_lists_the_cells_that_differ_side_by_side(runs, capsys):
    assert main(["diff", str(runs["before"]), str(runs["upgraded"])]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("mse plain mean handwritten cpu float64 grad:input")]
    assert rows and "mismatch" in rows[0].split("agree", 1)[1]
    assert main(["diff", str(runs["before"]), str(runs["again"])]) == 0
    assert "0 of" in capsys.readouterr().out


def test_a_baseline_round_trips_and_records_versions(runs):
    data = json.loads(runs["baseline"].read_text())
    assert data["schema"] == gate.SCHEMA and "handwritten" in data["frameworks"]
    loaded = gate.load_baseline(runs["baseline"])
    meta_cells = gate.cells(Record.from_json(json.loads(line))
                       for line in (runs["before"] / "results.jsonl").read_text().splitlines())
    assert loaded["cells"].keys() == meta_cells.keys()
    for key, stat in meta_cells.items():            # errors are kept to 4 significant digits
        assert loaded["cells"][key].outcomes == stat.outcomes
        assert loaded["cells"][key].worst_error_eps == pytest.approx(stat.worst_error_eps, rel=5e-4)


def test_a_baseline_of_a_run_that_did_not_finish_is_refused_unless_partial(runs, capsys, tmp_path):
    """A killed run holds only the cells it reached: a baseline of it would drop the rest unnoticed."""
    stopped = tmp_path / "stopped"
    shutil.copytree(runs["before"], stopped)
    meta = json.loads((stopped / "run.json").read_text())
    meta.pop("finished")
    meta["stopped"] = {"at": meta["started"], "why": "SIGTERM"}
    (stopped / "run.json").write_text(json.dumps(meta))
    out = tmp_path / "b.json"
    assert main(["baseline", str(stopped), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "did not finish (SIGTERM)" in err and err.count("\n") == 1 and not out.exists()
    assert main(["baseline", str(stopped), "--out", str(out), "--partial"]) == 0 and out.exists()


def test_a_baseline_taken_with_other_settings_is_refused_unless_allowed(runs, capsys, tmp_path):
    data = json.loads(runs["baseline"].read_text())
    other = tmp_path / "other-seed.json"
    other.write_text(json.dumps({**data, "seed": data["seed"] + 1}))
    assert main(["gate", "--baseline", str(other), str(runs["again"])]) == 2
    err = capsys.readouterr().err
    assert "seed: baseline 8, run 7" in err and "--allow-other-settings" in err
    assert main(["gate", "--baseline", str(other), str(runs["again"]), "--allow-other-settings"]) == 0
    stale = tmp_path / "other-corpus.json"
    stale.write_text(json.dumps({**data, "corpus": {**data["corpus"], "digest": "0" * 16}}))
    assert main(["gate", "--baseline", str(stale), str(runs["again"])]) == 2
    assert "corpus: baseline" in capsys.readouterr().err


def test_a_gzip_baseline_round_trips_and_a_truncated_one_is_refused(runs, tmp_path, capsys):
    packed = tmp_path / "baseline.json.gz"
    assert main(["baseline", str(runs["before"]), "--out", str(packed)]) == 0
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert gate.load_baseline(packed)["cells"].keys() == gate.load_baseline(runs["baseline"])["cells"].keys()
    assert main(["gate", "--baseline", str(packed), str(runs["again"])]) == 0
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(packed.read_bytes()[:100])
    assert main(["gate", "--baseline", str(cut), str(runs["again"])]) == 2
    assert "is not a readable gzip or JSON file (EOFError" in capsys.readouterr().err


COMMITTED = ROOT / "reports" / "baselines" / "default-cpu.json.gz"


@pytest.mark.slow
def test_the_committed_baseline_is_of_the_pinned_versions_and_the_current_corpus():
    from conformance import corpus
    data = gate.load_baseline(COMMITTED)
    assert (data["profile"], data["seed"], data["hypothesis_database"]) == ("default", 0, False)
    assert data["corpus"] == corpus.identity(), "the corpus changed: regenerate reports/baselines (docs/running.md)"
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert data["frameworks"]["torch"].startswith(pins["torch"])
    assert data["frameworks"]["jax"] == f"jax {pins['jax']} / optax {pins['optax']}"
    assert data["frameworks"]["tensorflow"] == f"tensorflow {pins['tensorflow']} / keras {pins['keras']}"
    assert data["frameworks"]["numpy"] == pins["numpy"]


@pytest.mark.slow
def test_a_rerun_here_matches_the_committed_baseline_in_the_cells_it_checks(tmp_path):
    """The baseline is reproducible: mse on NumPy and torch, default profile, no database
    (its plain calls: the committed baseline was written by a run without modes)."""
    out = tmp_path / "rerun"
    assert main(["run", "--profile", "default", "--frameworks", "numpy,torch", "--losses", "mse",
                 "--modes", "none", "--out", str(out)]) == 0
    from conformance.results import load
    _, records, _ = load(out)
    after = gate.cells(records)
    before = {k: v for k, v in gate.load_baseline(COMMITTED)["cells"].items() if k in after}
    assert len(before) == len(after) > 20
    changes = gate.compare(before, after)
    assert not any(changes), [c.line() for part in changes for c in part]


def test_cells_leave_out_what_a_search_found_the_inputs_differ_between_versions():
    base = {"loss": "mse", "variant": "plain", "reduction": "mean", "framework": "torch", "device": "cpu",
            "dtype": "float32", "check": "value"}
    records = [Record.from_json({**base, "case": "c", "origin": "hypothesis", "outcome": "agree", "error_eps": 0.5}),
               Record.from_json({**base, "case": "c", "origin": "search", "outcome": "documented", "error_eps": 500.0}),
               Record.from_json({**base, "case": "c", "origin": "corpus", "outcome": "agree", "error_eps": 3.0})]
    (stat,) = gate.cells(records).values()
    assert stat.outcomes == {"agree": 2} and stat.worst_error_eps == 3.0


def _doctored(baseline: Path, to: Path, pick) -> list[dict]:
    """A copy of ``baseline`` whose cells chosen by ``pick`` had a worst error of 0."""
    data = json.loads(baseline.read_text())
    chosen = [c for c in data["cells"] if pick(c)]
    for c in chosen:
        c["worst_error_eps"] = 0.0
    to.write_text(json.dumps(data))
    return chosen


def test_growth_still_within_k_is_a_warning_and_the_gate_passes(runs, tmp_path, capsys):
    """The run's own cells with an error above 1.1 eps (and far below 16), set to 0 in the
    baseline: grown past a factor of 1.1 (from the 1 eps floor), still within k = 16."""
    chosen = _doctored(runs["baseline"], tmp_path / "b.json", lambda c: 1.1 < c["worst_error_eps"] <= 16)
    assert chosen, "the example adapter's run has no cell with an error between 1.1 and 16 eps"
    assert main(["gate", "--baseline", str(tmp_path / "b.json"), str(runs["before"]), "--factor", "1.1"]) == 0
    out = capsys.readouterr().out
    assert "0 regressions" in out and f"gate: pass ({len(chosen)} warning(s))" in out
    assert f"{len(chosen)} warnings (grew, still within tolerance)" in out and "still within k = 16" in out


def test_growth_past_k_fails_the_gate(runs, tmp_path, capsys):
    """The upgraded run's mismatching mse gradient (far past k), its error set to 0 in a
    baseline of that same run: the outcome is not new, the error is."""
    upgraded = tmp_path / "upgraded.json"
    assert main(["baseline", str(runs["upgraded"]), "--out", str(upgraded)]) == 0
    chosen = _doctored(upgraded, tmp_path / "b.json", lambda c: c["worst_error_eps"] > 16 and c["loss"] == "mse")
    assert chosen
    capsys.readouterr()
    assert main(["gate", "--baseline", str(tmp_path / "b.json"), str(runs["upgraded"])]) == 1
    out = capsys.readouterr().out
    assert "handwritten mse: error past tolerance" in out or "past k = 16" in out
    assert "gate: FAIL" in out and "0 warnings" in out


def test_the_gate_writes_markdown_junit_and_json(runs, tmp_path, capsys):
    files = {name: tmp_path / "ci" / f"gate.{name}" for name in ("markdown", "junit", "json")}
    assert main(["gate", "--baseline", str(runs["baseline"]), str(runs["upgraded"]),
                 *(arg for name, path in files.items() for arg in (f"--{name}", str(path)))]) == 1
    assert "JUnit XML written to" in capsys.readouterr().out
    data = json.loads(files["json"].read_text())
    assert data["verdict"] == "FAIL" and data["counts"]["regression"]["cells"] > 0
    suite = ET.parse(files["junit"]).getroot().find("testsuite")
    failures = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert len(failures) == int(suite.get("failures")) == data["counts"]["regression"]["groups"]
    assert any("mse plain mean handwritten cpu float64 grad:input: new outcome mismatch" in c.find("failure").text
               for c in failures)
    summary = files["markdown"].read_text()
    assert summary.startswith("## Conformance gate: ❌ FAIL")
    assert "| handwritten | `mse` | new outcome mismatch" in summary


def test_an_output_that_cannot_be_written_is_an_error_and_the_others_are_still_written(runs, tmp_path, capsys):
    blocked = runs["baseline"] / "gate.xml"          # under a file: no directory can be made there
    md, js = tmp_path / "gate.md", tmp_path / "gate.json"
    assert main(["gate", "--baseline", str(runs["baseline"]), str(runs["again"]),
                 "--markdown", str(md), "--junit", str(blocked), "--json", str(js)]) == 2
    captured = capsys.readouterr()
    assert "gate: pass" in captured.out
    assert f"error: could not write the JUnit XML (--junit) to {blocked}" in captured.err
    assert "Traceback" not in captured.err and md.exists() and json.loads(js.read_text())["verdict"] == "pass"
