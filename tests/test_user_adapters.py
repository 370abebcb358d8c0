"""Checking your own implementation: the example adapter conforms, a dozen realistic
wrong implementations are each caught by the ci profile, and every way of pointing
--adapter at something that is not an adapter exits 2 with a clear message."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.example_user_adapter import HandWrittenNumpy
from adapters.user import AdapterLoadError, load
from conformance import cells as cells_module, engine, profiles
from conformance.cli import main
from conformance.vocab.records import FAILING
from wrong_adapters import WRONG

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "adapters" / "example_user_adapter.py")


def first_failure(adapter, loss: str):
    """The first failing record of a ci-profile run of ``loss`` (None: all conform)."""
    profile = profiles.get("ci")
    for unit in engine.iterate([adapter], cells_module.cells((loss,)), profile.dtypes, ("cpu",), profile, profile.seed):
        for r in (r for _case, records in unit.found for r in records):
            if r.outcome in FAILING:
                return r
    return None


@pytest.mark.slow
@pytest.mark.parametrize("loss", sorted(HandWrittenNumpy.recipes))
def test_the_example_adapter_conforms_on_the_ci_profile(loss):
    assert first_failure(HandWrittenNumpy(), loss) is None


@pytest.mark.slow
@pytest.mark.parametrize("wrong", WRONG, ids=lambda w: w.name)
def test_the_ci_profile_catches_a_realistic_wrong_implementation(wrong):
    failure = first_failure(wrong(), wrong.loss)
    assert failure is not None, f"{wrong.name} ({wrong.why}) passed the ci profile"
    assert failure.framework == wrong.name and failure.finding is None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bce_softplus_without_log1p", "bce_tiny_term_cancelled"])
def test_a_lost_tiny_term_is_caught_in_float32_and_in_float64(name):
    """Relative accuracy where the mathematics is well conditioned: the bug loses
    softplus(-20) in float32 and softplus(-40) in float64, both caught."""
    wrong = next(w for w in WRONG if w.name == name)
    profile = profiles.get("ci")
    failing = set()
    for dtype in ("float32", "float64"):
        for unit in engine.iterate([wrong()], cells_module.cells((wrong.loss,)), (dtype,), ("cpu",), profile,
                                   profile.seed):
            if any(r.outcome in FAILING for _case, records in unit.found for r in records):
                failing.add(dtype)
                break
    assert failing == {"float32", "float64"}


def test_there_are_at_least_a_dozen_distinct_wrong_implementations():
    assert len({w.name for w in WRONG}) == len(WRONG) >= 12


@pytest.mark.slow
def test_run_with_adapter_checks_only_that_adapter_and_writes_results(tmp_path):
    out = tmp_path / "results"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--adapter", EXAMPLE, "--losses", "mse", "--profile", "quick", "--out", str(out)]) == 0
    meta = json.loads((out / "run.json").read_text())
    assert list(meta["frameworks"]) == ["handwritten"]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert records and {r["framework"] for r in records} == {"handwritten"}
    # hand-written kernels have no autodiff to compose sample weights with: said, not faked
    weighted = [r for r in records if r["detail"] == "handwritten composes no sample weights"]
    assert weighted and {r["outcome"] for r in weighted} == {"unsupported"}
    assert any(r["variant"] == "sample_weight" for r in weighted)
    plain = [r for r in records if r not in weighted]
    assert {r["outcome"] for r in plain} == {"agree", "undefined"}        # 0/0: the mean of an empty batch


def test_a_module_attribute_spec_loads_too():
    assert load("adapters.example_user_adapter:ADAPTER").name == "handwritten"
    assert load("adapters.example_user_adapter:HandWrittenNumpy").name == "handwritten"   # a class


NOT_AN_ADAPTER = """
import numpy as np
ADAPTER = object()
"""
BROKEN_IMPORT = "import no_such_package_anywhere\n"
RAISES_ON_IMPORT = "raise SystemExit(3)\n"
NO_METHODS = """
from adapters.base import FrameworkAdapter, Recipe
class Half(FrameworkAdapter):
    name = "half"
    recipes = {"mse": Recipe(lambda a, p, r: None, "x")}
ADAPTER = Half()
"""
CLASHING_NAME = NO_METHODS.replace('"half"', '"torch"')
UNKNOWN_LOSS = NO_METHODS.replace('{"mse"', '{"msee"')
VERSION_RAISES = """
from adapters.example_user_adapter import HandWrittenNumpy
class Bad(HandWrittenNumpy):
    name = "bad"
    def version(self):
        raise RuntimeError("no version here")
ADAPTER = Bad()
"""


@pytest.mark.parametrize("source,attribute,needle", [
    (NOT_AN_ADAPTER, "", "not a FrameworkAdapter"),
    (BROKEN_IMPORT, "", "failed to import: ModuleNotFoundError"),
    (RAISES_ON_IMPORT, "", "failed to import: SystemExit"),
    (NOT_AN_ADAPTER, ":MISSING", "has no attribute 'MISSING'"),
    (NO_METHODS, "", "does not implement _import, version, devices, _run"),
    (CLASHING_NAME, "", "is a built-in framework"),
    (UNKNOWN_LOSS, "", "unknown losses 'msee'"),
    (VERSION_RAISES, "", "version() raised RuntimeError: no version here"),
], ids=["not-an-adapter", "import-error", "exits-on-import", "missing-attribute", "missing-methods",
        "clashing-name", "unknown-loss", "version-raises"])
def test_a_bad_adapter_exits_2_with_one_clear_message_and_writes_nothing(tmp_path, capsys, source, attribute,
                                                                          needle):
    path = tmp_path / "user_adapter.py"
    path.write_text(source)
    out = tmp_path / "results"
    assert main(["run", "--adapter", f"{path}{attribute}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_missing_adapter_file_exits_2(tmp_path, capsys):
    assert main(["run", "--adapter", str(tmp_path / "nowhere.py"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_load_error_is_a_value_error_naming_the_expected_form():
    with pytest.raises(AdapterLoadError, match="module:attribute"):
        load("adapters.example_user_adapter:")


def _pytest_matrix(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "conformance"),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_pytest_matrix_takes_adapter_too_and_fails_a_wrong_one(tmp_path):
    good = _pytest_matrix("--adapter", EXAMPLE, "--losses", "mse")
    assert good.returncode == 0, good.stdout[-2000:]
    assert "handwritten" in _pytest_matrix("--adapter", EXAMPLE, "--losses", "mse", "--collect-only").stdout
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from wrong_adapters import WRONG\nADAPTER = [w for w in WRONG if w.loss == 'mse'][0]\n")
    bad = _pytest_matrix("--adapter", str(wrong), "--losses", "mse")
    assert bad.returncode == 1 and "unexplained failure" in bad.stdout, bad.stdout[-2000:]
