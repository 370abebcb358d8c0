"""The pytest plugin (entry point pytest11) gives the matrix's options to pytest run
from any directory: another repository can check its own adapter with the matrix."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "adapters" / "example_user_adapter.py"


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=cwd,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_matrix_runs_from_another_directory_with_a_users_adapter(tmp_path):
    done = _pytest(tmp_path, "--pyargs", "conformance", "--profile", "smoke", "--losses", "mse",
                   "--adapter", str(EXAMPLE))
    assert done.returncode == 0, done.stdout + done.stderr
    passed = int(re.search(r"(\d+) passed", done.stdout).group(1))
    assert passed >= 8 and "handwritten" not in done.stderr
    listed = _pytest(tmp_path, "--pyargs", "conformance", "--profile", "smoke", "--losses", "mse",
                     "--adapter", str(EXAMPLE), "--collect-only")
    assert "-handwritten-cpu-float32]" in listed.stdout and "-torch-" not in listed.stdout


@pytest.mark.slow
def test_a_bad_matrix_option_from_another_directory_is_one_usage_error(tmp_path):
    done = _pytest(tmp_path, "--pyargs", "conformance", "--profile", "nope")
    assert done.returncode == 4
    assert "unknown profile 'nope'" in done.stderr and "Traceback" not in done.stderr
