"""Crashes, hangs, interruptions and repeat runs: a crash or a hang costs one case,
a killed run loses nothing and --resume finishes it, and the same seed gives the
same verdicts and the same report."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.cli import main

ROOT = Path(__file__).resolve().parents[1]
MISBEHAVING = str(ROOT / "tests" / "data" / "misbehaving_adapter.py")


def _no_weights(r: dict) -> bool:
    """A hand-written adapter has no autodiff to compose sample weights with: it says so."""
    return r["outcome"] == "unsupported" and r["detail"].endswith("composes no sample weights")


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def run(*args: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["run", *args])


def keyed(rs: list[dict]) -> list[tuple]:
    return sorted((r["case"], r["framework"], r["device"], r["dtype"], r["check"], r["outcome"],
                   json.dumps(r.get("error_eps"))) for r in rs)


@pytest.mark.slow
def test_a_crashing_and_a_hanging_case_cost_one_case_each_and_the_run_carries_on(tmp_path):
    out = tmp_path / "r"
    started = time.perf_counter()
    assert run("--adapter", MISBEHAVING, "--losses", "mse", "--profile", "quick", "--dtypes", "float64",
               "--timeout", "3", "--out", str(out)) == 0          # 3 s: time to load the adapter too
    assert time.perf_counter() - started < 120
    rs = records(out)
    cases = {row["id"]: row for row in map(json.loads, (out / "cases.jsonl").read_text().splitlines())}
    crashed = [r for r in rs if r["outcome"] == "crash"]
    hung = [r for r in rs if r["outcome"] == "timeout"]
    nan = {i for i, c in cases.items() if "nan" in json.dumps(c["arrays"]["input"]["data"])}
    empty = {i for i, c in cases.items() if 0 in c["arrays"]["input"]["shape"]}
    assert nan and empty                                              # hand-listed and derived edge cases
    assert sorted(r["case"] for r in crashed) == sorted(nan)         # one record for each case that crashed
    assert sorted(r["case"] for r in hung) == sorted(empty)          # and for each that hung
    assert all("SIGSEGV" in r["detail"] for r in crashed)
    assert all("no answer within 3 s" in r["detail"] for r in hung)
    for r in crashed + hung:                                          # saved for reproduction
        assert r["case"] in cases
    assert any("nan" in json.dumps(cases[r["case"]]["arrays"]) for r in crashed)
    # a hand-written adapter composes no sample weights: those cases say so
    others = [r for r in rs if r["outcome"] not in ("crash", "timeout") and not _no_weights(r)]
    assert len(others) > 50 and {r["outcome"] for r in others} == {"agree"}   # the run went on
    meta = json.loads((out / "run.json").read_text())
    assert meta["counts"]["misbehaving:crash"] == len(nan) and meta["finished"]


@pytest.mark.slow
def test_a_killed_run_loses_nothing_and_resume_finishes_it_like_an_uninterrupted_run(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    args = ["--frameworks", "numpy", "--losses", "nll", "--profile", "ci"]
    assert run(*args, "--out", str(full)) == 0
    third = (full / "results.jsonl").stat().st_size // 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", *args, "--out", str(cut)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = cut / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not results.exists() or results.stat().st_size < third):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    text = results.read_text()
    complete = text[:text.rfind("\n") + 1]
    assert 0 < len(complete.splitlines()) < len(records(full))          # killed part-way
    for line in complete.splitlines():                                 # what was written is whole
        json.loads(line)
    with open(results, "a") as f:                                      # and a line cut in half
        f.write('{"case": "half a li')
    assert run(*args, "--out", str(cut), "--resume") == 0
    assert keyed(records(cut)) == keyed(records(full))
    meta = json.loads((cut / "run.json").read_text())
    assert sum(meta["counts"].values()) == len(records(full)) and "resumed" in meta


@pytest.mark.slow
def test_resume_with_other_options_or_onto_what_is_not_a_run_exits_2(tmp_path, capsys):
    out = tmp_path / "r"
    assert run("--frameworks", "numpy", "--losses", "l1", "--profile", "quick", "--out", str(out)) == 0
    before = (out / "results.jsonl").read_text()
    assert main(["run", "--frameworks", "numpy", "--losses", "l1", "--profile", "quick", "--seed", "5",
                 "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "seed was 0, now 5" in err
    assert (out / "results.jsonl").read_text() == before                # nothing touched
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["run", "--frameworks", "numpy", "--losses", "l1", "--out", str(other), "--resume"]) == 2
    assert "holds no run.json" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "mine" and len(list(other.iterdir())) == 1


def _report_without_times(out: Path) -> str:
    assert main(["report", str(out)]) == 0
    pages = [out / "report.html", *sorted((out / "report-losses").glob("*.html"))]
    html = "".join(page.read_text() for page in pages)
    return re.sub(r"started [^;<]*|finished [^<]*\)|\d+(\.\d+)? s\b", "", html)


@pytest.mark.slow
def test_the_same_seed_and_profile_give_identical_verdicts_and_an_identical_report(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--frameworks", "numpy", "--losses", "bce", "--profile", "ci"]
    assert run(*args, "--out", str(a)) == 0
    assert run(*args, "--out", str(b), "--isolation", "none") == 0
    assert (a / "results.jsonl").read_bytes() == (b / "results.jsonl").read_bytes()
    assert (a / "cases.jsonl").read_bytes() == (b / "cases.jsonl").read_bytes()
    with contextlib.redirect_stdout(io.StringIO()):
        assert _report_without_times(a) == _report_without_times(b)


@pytest.mark.slow
def test_a_sticky_device_error_costs_its_own_case_not_the_rest_of_the_run(tmp_path):
    """After a CUDA-style error the worker is replaced: the cases after it run on a
    fresh one (without that, every later check would be an error-mismatch)."""
    sticky = str(ROOT / "tests" / "data" / "sticky_error_adapter.py")
    out = tmp_path / "sticky"
    assert run("--adapter", sticky, "--losses", "mse", "--profile", "quick", "--dtypes", "float64",
               "--out", str(out)) == 0
    rs = records(out)
    cases = {c["id"]: c for c in map(json.loads, (out / "cases.jsonl").read_text().splitlines())}
    with_inf = {i for i, c in cases.items() if "inf" in json.dumps(c["arrays"]["input"]["data"])}
    raised = {r["case"] for r in rs if "CUDA error" in (r.get("raised") or "")}
    assert raised and raised <= with_inf, "only the cases that broke the device may raise"
    others = [r for r in rs if r["case"] not in with_inf and not _no_weights(r)]
    assert len(others) > 20 and {r["outcome"] for r in others} <= {"agree", "undefined"}   # 0/0: an empty mean


@pytest.mark.slow
def test_a_framework_shared_between_two_workers_gives_the_records_of_one_in_the_same_order():
    from conformance import cells as matrix, engine, profiles
    from conformance.worker import IsolatedAdapter
    profile = profiles.get("default")
    cells = matrix.cells(("mse", "nll"), profile)

    def run_with(checkers):
        try:
            return [(c.id, r.framework, r.dtype, r.check, r.outcome, json.dumps(r.error_eps),
                     r.origin) for unit in engine.iterate(checkers, cells, ("float64", "float32"), ("cpu",),
                                                                 profile, 0, parallel=True)
                    for c, rs in unit.found for r in rs]
        finally:
            for c in checkers:
                c.close()
    one = run_with([IsolatedAdapter("numpy"), IsolatedAdapter("torch")])
    two = run_with([IsolatedAdapter("numpy"), IsolatedAdapter("numpy"), IsolatedAdapter("torch")])
    assert len(one) > 500 and any(r[-1] == "search" for r in one)
    assert two == one
