"""JUnit XML from the pytest matrix: `make matrix` writes it to $(OUT)/junit-matrix.xml.
The Makefile's own command, narrowed to one tiny loss, writes a report with a testcase
per (variant, reduction, framework, device, dtype) and direction."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def matrix_command(out: Path) -> list[str]:
    """The pytest line of `make matrix`, as make would run it with OUT=out."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "matrix", f"OUT={out}", "PROFILE=smoke"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    line = next(line for line in dry.stdout.splitlines() if "-m pytest conformance" in line)
    return [sys.executable, *shlex.split(line)[1:]]


@pytest.mark.slow
def test_make_matrix_writes_junit_xml_under_the_results_directory(tmp_path):
    command = matrix_command(tmp_path / "results")
    assert f"--junitxml={tmp_path / 'results' / 'junit-matrix.xml'}" in command
    done = subprocess.run([*command, "--frameworks", "numpy", "--losses", "l1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    suite = ET.parse(tmp_path / "results" / "junit-matrix.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = suite.findall("testcase")
    names = {c.get("name") for c in cases}
    assert len(cases) == int(suite.get("tests")) > 0
    assert "test_forward[l1-plain-mean-numpy-cpu-float32]" in names
    assert "test_backward[l1-plain-mean-numpy-cpu-float32]" in names
    assert int(suite.get("failures")) == int(suite.get("errors")) == 0
    assert all(c.get("classname") == "conformance.test_matrix" for c in cases)
