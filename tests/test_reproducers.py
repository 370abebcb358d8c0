"""Reproducers (reports/reproducers.py): from a real small run on torch, JAX and TF, every
discrepancy group gets inputs.npz, a script and BUG.md; the scripts reproduce in a clean
subprocess that can import nothing from this project, say NOT REPRODUCED once the stored
expectation is the framework's own answer, and the drafts carry versions, call and numbers."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import compare, oracle as oracles
from conformance.cli import main
from conformance.results import load
from conformance.vocab.records import Record
from conformance.vocab.tolerance import for_dtype
from reports import repro_check, reproducers
from reports.repro_inline import rename
from reports.repro_script import TEMPLATE

for module in ("torch", "jax", "optax", "tensorflow", "keras"):
    pytest.importorskip(module)

#: Losses with known discrepancies in each framework: torch's soft_margin overflow and CTC
#: gradient / refusals, Keras's Tversky alpha-beta swap, optax's and torch's KL divergence
#: (NaN at zero probability, broadcasting), TF's composed KL divergence and CTC.
RUN = ["--frameworks", "torch,jax,tensorflow", "--losses", "soft_margin,tversky,ctc,kl_div",
       "--dtypes", "float32", "--profile", "smoke", "--isolation", "none"]
#: torch's soft margin loss is NaN where it should be finite (a value with an oracle answer;
#: the derived shape cases of the same loss are error-mismatch groups without one)
SOFT_MARGIN_VALUE = dict(framework="torch", loss="soft_margin", check="value", outcome="nonfinite-mismatch")
PROJECT = ("adapters", "conformance", "reference", "reports")
#: Runs a script as __main__ and then lists any module of this project it imported.
WRAPPER = """
import runpy, sys
sys.argv = [sys.argv[1]]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {project})
print("PROJECT MODULES:", leaked)
sys.exit(code)
""".replace("{project}", repr(set(PROJECT)))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    results = tmp_path_factory.mktemp("repro") / "results"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", *RUN, "--out", str(results)]) == 0
    meta, records, cases = load(results)
    entries = reproducers.write(results, meta, records, cases)
    return {"results": results, "meta": meta, "records": records, "cases": cases,
            "entries": {e.slug: e for e in entries}, "out": results / reproducers.DIRECTORY}


def _expect(run: dict, entry: reproducers.Entry) -> str:
    """What the entry's script expects: numbers, returns (the oracle refuses) or raises."""
    script = run["out"] / entry.slug / f"{entry.framework}_repro.py"
    text = script.read_text() if script.exists() else ""
    return next((e for e in ("numbers", "returns", "raises") if f"EXPECT = {e!r}" in text), "")


def _pick(run: dict, expect: str | None = None, **want) -> reproducers.Entry:
    found = [e for e in run["entries"].values() if all(
        (getattr(e, k) in v if isinstance(v, tuple) else getattr(e, k) == v) for k, v in want.items())
        and (expect is None or _expect(run, e) == expect)]
    assert found, f"no reproducer with {want} among {sorted(run['entries'])}"
    return found[0]


def _clean_run(directory: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Copy a reproducer elsewhere and run its script there, with no PYTHONPATH and the
    project out of reach; the wrapper reports project modules that got imported."""
    target = tmp_path / directory.name
    shutil.copytree(directory, target)
    script = next(target.glob("*_repro.py"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", WRAPPER, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------------ what is written

@pytest.mark.slow
def test_every_discrepancy_group_has_a_directory_inputs_and_a_draft(run):
    groups = reproducers.groups(run["records"])
    assert groups and set(run["entries"]) == {reproducers.slug(*k) for k in groups}
    assert not any(k[4] == "documented" for k in groups)
    for entry in run["entries"].values():
        d = run["out"] / entry.slug
        assert (d / "BUG.md").is_file() and (d / "inputs.npz").is_file(), entry
    index = json.loads((run["out"] / "index.json").read_text())
    assert {e["slug"] for e in index["entries"]} == set(run["entries"])
    assert "| directory |" in (run["out"] / "README.md").read_text()


@pytest.mark.slow
def test_almost_every_group_gets_a_script_that_reproduces_here(run):
    statuses = [e.status for e in run["entries"].values()]
    assert statuses.count("reproduced") >= 0.9 * len(statuses), \
        [(e.slug, e.status, e.reason) for e in run["entries"].values() if e.status != "reproduced"]
    hows = {(e.framework, e.how) for e in run["entries"].values() if e.status == "reproduced"}
    assert {("torch", "call"), ("tensorflow", "call"), ("jax", "call"), ("tensorflow", "recipe")} <= hows


@pytest.mark.slow
def test_inputs_are_the_arrays_the_framework_got_and_the_oracle_answer(run):
    entry = _pick(run, **SOFT_MARGIN_VALUE, status="reproduced")
    case = run["cases"][entry.case]
    o = oracles.oracle(case, entry.dtype)
    stored = np.load(run["out"] / entry.slug / "inputs.npz")
    for name, a in o.arrays.items():
        assert np.array_equal(stored[name], a, equal_nan=True)
        assert stored[name].dtype == a.dtype
    assert np.array_equal(stored["oracle_lo"], o.evaluation.value, equal_nan=True)


# ------------------------------------------------------------------ the scripts, for real

CHOSEN = [dict(**SOFT_MARGIN_VALUE, how="call"),
          dict(framework="torch", loss="ctc", check="grad:log_probs", how="call"),
          dict(framework="tensorflow", loss="tversky", outcome="mismatch", how="call"),
          dict(framework="tensorflow", how="recipe"),
          dict(framework="jax", how="call", outcome=("mismatch", "nonfinite-mismatch")),
          dict(framework="jax", how="recipe"),
          dict(framework="torch", outcome="error-mismatch", how="call", expect="returns"),
          dict(framework="torch", outcome="error-mismatch", how="call", expect="raises")]


@pytest.mark.slow
def test_scripts_reproduce_in_a_clean_process_without_the_project(run, tmp_path):
    failures = []
    for want in CHOSEN:
        entry = _pick(run, status="reproduced", **want)
        done = _clean_run(run["out"] / entry.slug, tmp_path)
        ok = (done.returncode == 0 and "REPRODUCED:" in done.stdout and "NOT REPRODUCED" not in done.stdout
              and "PROJECT MODULES: []" in done.stdout)
        if not ok:
            failures.append((entry.slug, done.returncode, done.stdout[-800:], done.stderr[-800:]))
    assert not failures, failures


@pytest.mark.slow
def test_a_script_imports_only_numpy_and_its_framework(run):
    allowed = {"__future__", "sys", "pathlib", "numpy", "os", "functools", "math", "dataclasses", "typing",
               "collections", "warnings", "tempfile", "torch", "jax", "optax", "tensorflow", "keras", "ml_dtypes"}
    for entry in run["entries"].values():
        script = run["out"] / entry.slug / f"{entry.framework}_repro.py"
        if not script.exists():
            continue
        imported = {line.split()[1].split(".")[0] for line in script.read_text().splitlines()
                    if line.startswith(("import ", "from ")) or line.lstrip().startswith(("import ", "from "))}
        assert imported <= allowed, (entry.slug, imported - allowed)


def _framework_answer(run: dict, entry: reproducers.Entry, tmp_path: Path) -> Path:
    """A copy of the reproducer whose stored expectation is the framework's own result."""
    target = tmp_path / entry.slug
    shutil.copytree(run["out"] / entry.slug, target)
    code, output, namespace = repro_check.run_script(target / f"{entry.framework}_repro.py")
    assert code == 0, output
    arrays = dict(np.load(target / "inputs.npz"))
    actual = np.asarray(namespace["compute"](dict(arrays)), dtype=np.float64)
    for part in ("lo", "hi", "lo_rounded", "hi_rounded"):
        arrays[f"oracle_{part}"] = actual
    arrays = {k: v for k, v in arrays.items() if not k.startswith("policy_")}
    np.savez_compressed(target / "inputs.npz", **arrays)
    return target


@pytest.mark.parametrize("want", [dict(**SOFT_MARGIN_VALUE, how="call"),
                                  dict(framework="tensorflow", how="recipe", outcome=("mismatch", "nonfinite-mismatch"))],
                         ids=["torch-call", "tensorflow-recipe"])
@pytest.mark.slow
def test_a_script_says_not_reproduced_when_the_expected_value_is_the_frameworks_own(run, want, tmp_path):
    entry = _pick(run, status="reproduced", **want)
    target = _framework_answer(run, entry, tmp_path / "copy")
    done = _clean_run(target, tmp_path / "clean")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT REPRODUCED" in done.stdout and "outcome: agree" in done.stdout


# ------------------------------------------------------------------ the drafts

@pytest.mark.slow
def test_bug_md_has_the_version_device_dtype_call_and_expected_vs_actual(run):
    entry = _pick(run, **SOFT_MARGIN_VALUE, how="call", status="reproduced")
    text = (run["out"] / entry.slug / "BUG.md").read_text()
    version = run["meta"]["frameworks"]["torch"]
    for needle in (version, "**device**: cpu", f"**dtype**: {entry.dtype}",
                   "torch.nn.functional.soft_margin_loss(input, target, reduction=",
                   "- **expected** (computed in float64", f"- **actual** (torch {version}): `", "python torch_repro.py",
                   "REPRODUCED"):
        assert needle in text, needle
    if entry.finding:
        assert f"known finding `{entry.finding}`" in text


def _snippet_output(code: str, tmp_path: Path) -> list:
    """What a BUG.md snippet prints, run in a clean process away from the project."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1].replace("nan", "NaN").replace("inf", "Infinity"))


@pytest.mark.slow
def test_a_generated_snippet_prints_what_the_framework_returned_in_the_run(run, tmp_path):
    """The few lines BUG.md writes from the call and the inputs make the same call on the same
    values: what they print is the record's actual result, bit for bit."""
    tried = set()
    for entry in run["entries"].values():
        text = (run["out"] / entry.slug / "BUG.md").read_text() if entry.status == "reproduced" else ""
        if entry.framework in tried or f"It prints what {entry.framework} returns" not in text:
            continue
        tried.add(entry.framework)
        code = text.split("## Reproducer", 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]
        assert 3 <= len(code.splitlines()) <= 8, code
        record = next(r for r in run["records"] if r.case == entry.case and r.framework == entry.framework
                      and r.check == entry.check and r.dtype == entry.dtype and r.mode is None)
        printed = np.ravel(np.asarray(_snippet_output(code, tmp_path), dtype=np.float64))
        actual = np.asarray([float(v) for v in record.actual["data"]])
        assert np.array_equal(printed[:actual.size], actual, equal_nan=True), (entry.slug, printed, actual)
    assert "torch" in tried, tried          # JAX's and TF's snippets: tests/test_bug_drafts.py


@pytest.mark.slow
def test_a_composed_recipe_draft_says_to_check_before_filing(run):
    entry = _pick(run, framework="tensorflow", how="recipe", status="reproduced", loss=("kl_div", "ctc"))
    record = next(r for r in run["records"] if r.case == entry.case and r.framework == "tensorflow"
                  and r.check == entry.check and r.dtype == entry.dtype)
    text = (run["out"] / entry.slug / "BUG.md").read_text()
    assert "runs the suite's own recipe" in text
    if record.support == "composed":
        assert "Check before filing" in text


def test_crash_and_timeout_groups_get_no_directory(tmp_path):
    records = [Record("x", "l1", "plain", "mean", "hypothesis", "torch", "cpu", "float32", "value", o)
               for o in ("crash", "documented", "agree")]
    groups = reproducers.groups(records)
    assert [k[4] for k in groups] == ["crash"]
    meta = {"frameworks": {}}
    entries = reproducers.write(tmp_path, meta, records, {}, out=tmp_path / "r")
    assert [e.status for e in entries] == ["skipped"] and not (tmp_path / "r" / entries[0].slug).exists()


def test_a_directory_not_written_by_the_suite_is_not_replaced(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(FileExistsError, match="not written by loss-conformance"):
        reproducers.write(tmp_path, {}, [], {}, out=tmp_path / "r")


@pytest.mark.slow
def test_report_writes_reproducers_beside_it_unless_told_not_to(run, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["report", str(run["results"]), "--out", str(tmp_path / "a" / "report.html")]) == 0
    assert (tmp_path / "a" / "reproducers" / "README.md").is_file()
    assert "reproducers written to" in printed.getvalue()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(run["results"]), "--out", str(tmp_path / "b" / "report.html"),
                     "--no-reproducers"]) == 0
    assert not (tmp_path / "b" / "reproducers").exists()


# ------------------------------------------------------------------ the pieces

def test_the_scripts_judge_is_the_suites_judge():
    namespace: dict = {}
    source = TEMPLATE.read_text()
    start, end = source.index("def judge("), source.index("def show(")
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float16"):
        tol = for_dtype(dtype)
        exec("import numpy as np\n" + f"K, EPS, TINY = {tol.k!r}, {tol.eps!r}, {tol.tiny!r}\n"
             + source[start:end], namespace)
        for _ in range(200):
            lo = rng.normal(size=4) * rng.choice([1, 1e3, 1e6])
            lo[rng.random(4) < 0.2] = rng.choice([np.nan, np.inf, -np.inf, 1e300])
            hi = np.where(rng.random(4) < 0.3, lo + abs(rng.normal(size=4)), lo)
            actual = lo + rng.normal(size=4) * tol.eps * rng.choice([0, 1, 100])
            actual[rng.random(4) < 0.1] = rng.choice([np.nan, np.inf])
            scale = np.abs(rng.normal(size=4))
            ours = compare.judge(lo, hi, scale, actual, tol)
            from conformance.vocab.dtypes import round_to
            theirs = namespace["judge"](lo, hi, round_to(lo, dtype), round_to(hi, dtype), scale, actual)
            assert theirs[0] == ours.outcome and (theirs[2] == ours.at or ours.outcome == "agree")


def test_rename_touches_names_not_attributes_keywords_strings_or_comments():
    source = 'def tf():\n    return 1  # tf here\n\n\ndef f(x):\n    y = tf() + x.tf\n    return g(tf=y, s="tf")\n'
    out = rename(source, {"tf": "tf_fn"})
    assert "def tf_fn():" in out and "y = tf_fn() + x.tf" in out and 'g(tf=y, s="tf")' in out
    assert "# tf here" in out


@pytest.mark.slow
def test_the_numpy_baseline_gets_a_numpy_only_script(tmp_path):
    results = tmp_path / "results"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--frameworks", "numpy", "--losses", "poisson_nll", "--dtypes", "float16",
                     "--profile", "smoke", "--isolation", "none", "--out", str(results)]) == 0
    meta, records, cases = load(results)
    entries = reproducers.write(results, meta, records, cases)
    assert entries and all(e.status == "reproduced" and e.how == "recipe" for e in entries), entries
    directory = results / reproducers.DIRECTORY / entries[0].slug
    assert "Not for upstream" in (directory / "BUG.md").read_text()
    done = _clean_run(directory, tmp_path)
    assert done.returncode == 0 and "REPRODUCED:" in done.stdout, done.stdout + done.stderr
    assert "PROJECT MODULES: []" in done.stdout
    script = next(directory.glob("*_repro.py")).read_text()
    assert not any(f"import {m}" in script for m in ("torch", "jax", "tensorflow", "keras"))


@pytest.mark.slow
def test_a_script_that_does_not_reproduce_is_marked_so(run, tmp_path):
    """The suite recorded nonfinite-mismatch; told it was a plain mismatch, every way of
    writing the script fails its own check, and the index and the draft say so."""
    entry = _pick(run, **SOFT_MARGIN_VALUE)
    records = [dataclasses.replace(r, outcome="mismatch", finding=None) for r in run["records"]
               if (r.framework, r.loss, r.variant, r.check, r.outcome)
               == ("torch", "soft_margin", entry.variant, "value", "nonfinite-mismatch")]
    (written,) = reproducers.write(run["results"], run["meta"], records, run["cases"], out=tmp_path / "r")
    assert written.status == "not reproduced" and "now nonfinite-mismatch" in written.reason, written
    text = (tmp_path / "r" / written.slug / "BUG.md").read_text()
    assert "**not reproduced**" in text and (tmp_path / "r" / written.slug / "torch_repro.py").exists()


@pytest.mark.slow
def test_a_framework_without_a_builtin_adapter_gets_the_draft_and_inputs_but_no_script(run, tmp_path):
    entry = _pick(run, **SOFT_MARGIN_VALUE)
    records = [dataclasses.replace(r, framework="my-kernels") for r in run["records"] if r.case == entry.case
               and r.framework == "torch" and r.check == "value" and r.dtype == entry.dtype]
    (written,) = reproducers.write(run["results"], run["meta"], records, run["cases"], out=tmp_path / "r")
    directory = tmp_path / "r" / written.slug
    assert written.status == "no script" and "not a built-in framework" in written.reason
    assert (directory / "inputs.npz").is_file() and not list(directory.glob("*_repro.py"))
    assert "No standalone script" in (directory / "BUG.md").read_text()
