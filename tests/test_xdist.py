"""`pytest -n auto` (pytest-xdist) runs the conformance matrix: every worker builds the
same parametrisation, and the verdicts are those of a run in one process."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ["conformance", "--losses", "mse,nll", "--frameworks", "numpy,torch", "-q", "-rA"]


def _verdicts(*extra: str) -> set[tuple[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "pytest", *SELECTION, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = set(re.findall(r"^(PASSED|XFAIL|SKIPPED|FAILED)\S* (\S+)", done.stdout, re.M))
    assert found, done.stdout[-2000:]
    return found


@pytest.mark.slow
def test_the_matrix_under_xdist_gives_the_verdicts_of_one_process():
    alone = _verdicts()
    spread = _verdicts("-n", "2")
    assert spread == alone
    assert {v for v, _ in alone} >= {"PASSED", "XFAIL"}
