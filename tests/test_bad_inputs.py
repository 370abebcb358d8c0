"""Every bad input of ``tests/bad_inputs.py`` ends with one message and exit code 2 (a
pytest usage error: 4), never a traceback, and loses or writes nothing: the files
around it are as they were (a user adapter that breaks the protocol during the run
leaves that run unfinished, its results kept)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main

from bad_inputs import ROWS, Bad

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "results"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", "--frameworks", "numpy", "--losses", "mse", "--profile", "smoke", "--isolation", "none",
                     "--out", str(out)]) == 0
    return out


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def _invoke(argv: list[str]) -> tuple[int, str]:
    if argv[0] == "pytest":
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv[1:]],
                              cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout + done.stderr
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:            # argparse's usage errors
            code = exc.code
    return code, err.getvalue()


def test_there_are_at_least_150_distinct_bad_inputs():
    assert len(ROWS) >= 150
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_bad_input_ends_with_one_message_and_writes_nothing(row: Bad, good: Path, tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    argv = row.make(work, good)
    before, good_before = _snapshot(work), _snapshot(good)
    code, text = _invoke(argv)
    assert code == row.code, text
    assert row.expect in text, text
    assert "Traceback" not in text, text
    marker = "ERROR:" if row.code == 4 else "error:"
    assert sum(marker in line for line in text.splitlines()) == 1, text
    assert _snapshot(good) == good_before, "the good results directory was touched"
    out = work / "out"
    if row.id.startswith("adapter-run-returns") or row.id == "adapter-unsupported-raises":
        meta = json.loads((out / "run.json").read_text())       # found during the run: stopped, kept
        assert "finished" not in meta and "AdapterContractError" in meta["stopped"]["why"]
        return
    assert _snapshot(work) == before, "a refused command must leave the files as they were"
