"""Execution modes: an axis of the matrix like dtype and device (conformance/vocab/modes.py).

The engine checks a sampled case in every other mode against the oracle and the
framework's plain call (tests/test_engine_outcomes.py has the fake adapters that
make each outcome); here the real frameworks run in their modes, the profile's
sampling picks its cases, the units resume, the command line and the pytest ids
name the mode, and the gate and the report keep it apart from the plain call.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import engine, frameworks, profiles
from conformance.cells import Cell, cases_for
from conformance.check import check
from conformance.cli import main
from conformance.results import load
from conformance.vocab.modes import MODES, label
import installed
from fakes import case

ROOT = Path(__file__).resolve().parents[1]
MSE = case("mse", {"input": [[1.0, 2.0, -0.5], [0.25, 3.0, 1.5]], "target": [[0.5, -1.0, 0.25], [0.0, 2.0, 1.0]]})
CE = case("cross_entropy", {"input": [[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]], "target": np.array([0, 2])})
CE_OUT_OF_RANGE = case("cross_entropy", {"input": [[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]],
                                         "target": np.array([0, 5])})




# ------------------------------------------------------------- the real frameworks

@pytest.mark.slow
@pytest.mark.parametrize("framework,mode", [("jax", "eager"), ("tensorflow", "graph"), ("tensorflow", "compiled")])
@pytest.mark.parametrize("c", [MSE, CE], ids=["mse", "cross_entropy"])
def test_each_frameworks_other_modes_agree_with_the_oracle_and_its_plain_call(framework, mode, c):
    records = check(c, installed.adapter(framework), "cpu", "float32", mode)
    assert {r.mode for r in records} == {mode}
    assert {r.check for r in records} >= {"value", "grad:input"}
    assert all(r.outcome == "agree" for r in records), [(r.check, r.outcome, r.detail) for r in records]


@pytest.mark.slow
def test_torch_compile_agrees_and_a_second_call_reuses_the_compiled_loss():
    adapter = installed.adapter("torch")
    first = check(MSE, adapter, "cpu", "float32", "compiled")
    assert all(r.outcome == "agree" and r.mode == "compiled" for r in first), [(r.check, r.detail) for r in first]
    from adapters.torch.adapter import _compiled
    assert _compiled.cache_info().currsize == 1
    check(MSE, adapter, "cpu", "float32", "compiled")
    assert _compiled.cache_info().hits >= 1
    adapter.release()
    assert _compiled.cache_info().currsize == 0


def test_tensorflow_xla_computes_on_an_out_of_range_class_where_its_eager_ops_refuse():
    """A finding (tf-xla-sparse-ce-out-of-range-label), caught by the mode comparison."""
    adapter = installed.adapter("tensorflow")
    assert check(CE_OUT_OF_RANGE, adapter, "cpu", "float32")[0].outcome == "agree"      # both refuse
    by_check = {r.check: r for r in check(CE_OUT_OF_RANGE, adapter, "cpu", "float32", "compiled")}
    assert by_check["mode:value"].outcome == "mode-mismatch"
    assert by_check["mode:value"].detail == "eager refuses what compiled computes"
    assert by_check["mode:value"].finding and by_check["value"].finding


@pytest.mark.parametrize("framework,mode", [("numpy", "compiled"), ("torch", "graph"), ("jax", "graph")])
def test_a_mode_a_framework_lacks_is_unsupported_with_the_reason(framework, mode):
    records = check(MSE, frameworks.get(framework), "cpu", "float32", mode)
    assert [(r.outcome, r.mode) for r in records] == [("unsupported", mode)]
    assert "mode" in records[0].detail and framework.lower()[:3] in records[0].detail.lower()


def test_every_framework_names_its_default_and_only_known_modes():
    for name in frameworks.names():
        adapter = frameworks.get(name)
        assert adapter.default_mode in MODES
        assert set(adapter.modes) <= set(MODES) - {adapter.default_mode}
        for mode in set(MODES) - set(adapter.modes) - {adapter.default_mode}:
            assert adapter.mode_unsupported(mode)


# ------------------------------------------------------------- sampling and units

def test_the_default_profile_samples_two_edge_cases_per_loss_in_float32_only():
    profile = profiles.get("default")
    edge = Cell("mse", "edge")
    n = len(cases_for(edge, profile.examples, 0))
    picked = [i for i in range(n) if engine.modes_for(edge, i, n, "float32", profile, tuple(MODES), "eager")]
    assert picked == [0, n // 2]
    assert engine.modes_for(edge, 0, n, "float32", profile, tuple(MODES), "eager") == tuple(m for m in MODES if m != "eager")
    assert engine.modes_for(edge, 0, n, "float64", profile, tuple(MODES), "eager") == ()
    generated = Cell("mse", "generated", "plain", "mean")
    assert engine.modes_for(generated, 0, 4, "float32", profile, tuple(MODES), "eager") == ()
    assert engine.modes_for(edge, 0, n, "float32", profile, (), "eager") == ()


def test_mode_units_have_keys_of_their_own_and_a_resumed_run_skips_them():
    from fakes import correct
    profile = profiles.get("quick")
    cell = Cell("mse", "document")
    adapter = correct("mse")
    units = list(engine.iterate([adapter], [cell], ("float64",), ("cpu",), profile, 0, modes=("compiled",)))
    keys = [u.key for u in units]
    assert len(keys) == len(set(keys)) and any(k.endswith("|compiled") for k in keys)
    plain = [k for k in keys if not k.endswith("|compiled")]
    assert plain and all(k.count("|") == 4 for k in plain)
    again = list(engine.iterate([adapter], [cell], ("float64",), ("cpu",), profile, 0, done=set(keys).__contains__,
                                modes=("compiled",)))
    assert again == []


# ------------------------------------------------------------- the command line, the results, the report

@pytest.fixture(scope="module")
def moded(tmp_path_factory):
    out = tmp_path_factory.mktemp("modes") / "res"
    assert main(["run", "--frameworks", "numpy,tensorflow", "--losses", "mse", "--profile", "quick",
                 "--dtypes", "float32", "--modes", "graph", "--isolation", "none", "--no-example-db", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_a_run_with_modes_records_them_in_run_json_and_in_each_record(moded):
    meta = json.loads((moded / "run.json").read_text())
    assert meta["modes"] == ["graph"]
    _, records, _ = load(moded)
    graph = [r for r in records if r.mode == "graph"]
    assert {r.framework for r in graph} == {"numpy", "tensorflow"}
    assert {r.outcome for r in graph if r.framework == "numpy"} == {"unsupported"}
    assert {r.outcome for r in graph if r.framework == "tensorflow"} <= {"agree", "documented", "undefined"} | {
        r.outcome for r in graph if r.finding}
    assert [r for r in records if r.mode is None]


@pytest.mark.slow
def test_a_resume_with_other_modes_is_refused_with_one_message(moded, capsys):
    code = main(["run", "--frameworks", "numpy,tensorflow", "--losses", "mse", "--profile", "quick",
                 "--dtypes", "float32", "--modes", "compiled", "--isolation", "none", "--no-example-db", "--out", str(moded),
                 "--resume"])
    assert code == 2
    assert "modes was ['graph'], now ['compiled']" in capsys.readouterr().err


def test_the_report_and_the_gate_keep_a_mode_apart_from_the_plain_call(moded, tmp_path):
    from reports import gate
    from reports.frame import records_frame, shown_by_mode
    meta, records, _ = load(moded)
    frame = records_frame(meta, shown_by_mode(records))
    assert {"tensorflow", "tensorflow-graph", "numpy-graph"} <= set(frame["framework"])
    assert set(frame.loc[frame["framework"] == "tensorflow-graph", "mode"]) == {"graph"}
    assert set(frame.loc[frame["framework"] == "tensorflow-graph", "framework_version"]) == {
        meta["frameworks"]["tensorflow"]}
    cells = gate.cells(records)
    assert any(k[gate.KEY_FIELDS.index("mode")] == "graph" for k in cells)
    path = tmp_path / "b.json"
    gate.write_baseline(path, gate.baseline(records, meta))
    rows = [json.loads(line.rstrip(",")) for line in path.read_text().splitlines()[1:-1]]
    assert any(r.get("mode") == "graph" for r in rows) and any("mode" not in r for r in rows)
    read = gate.load_baseline(path)["cells"]
    assert set(read) == set(cells) and all(read[k].outcomes == cells[k].outcomes for k in cells)


def test_a_bad_mode_is_one_usage_error(tmp_path, capsys):
    assert main(["run", "--modes", "jit", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown mode 'jit'" in err and "compiled" in err and err.count("\n") <= 2
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_the_pytest_ids_name_a_mode_other_than_the_default(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "conformance",
                           "--profile", "smoke", "--losses", "mse", "--frameworks", "jax,torch", "--modes", "all",
                           "--collect-only"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = done.stdout
    assert "mse-edge-torch-cpu-float32-compiled]" in ids and "mse-edge-jax-cpu-float32-eager]" in ids
    assert "jax-cpu-float32-compiled]" not in ids and "torch-cpu-float32-eager]" not in ids
    assert "mse-edge-torch-cpu-float32]" in ids


def test_list_shows_each_frameworks_modes(capsys):
    assert main(["list", "mse"]) == 0
    out = capsys.readouterr().out
    assert "modes: surfaces, execution, precision and differentiation" in out
    for name in frameworks.names():
        assert f"  {name}:" in out
    assert "tf.function(..., jit_compile=True)" in out and "jax.disable_jit()" in out


def test_label_names_a_framework_in_a_mode():
    assert label("torch", None) == "torch" and label("torch", "compiled") == "torch-compiled"
