"""Each recorded finding's reproducer still reproduces on the installed frameworks,
and each finding is well formed (a finding that an upgrade fixed must be retired).

The reproducers of one framework run in one fresh interpreter (each snippet in
its own namespace), so the frameworks are imported once, not once per finding.
"""
from __future__ import annotations

import dataclasses

import functools
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conformance.vocab.records import FAILING
from conformance.vocab.findings import findings

RUNNER = """
import json, sys, traceback
results = {}
for fid, code in json.load(sys.stdin):
    try:
        exec(compile(code, fid, 'exec'), {'__name__': '__main__'})
        results[fid] = ''
    except BaseException:
        results[fid] = traceback.format_exc()[-2000:]
print(json.dumps(results))
"""


@functools.cache
def _outcomes(framework: str) -> dict[str, str]:
    snippets = [(f.id, f.reproducer) for f in findings() if f.framework == framework]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(snippets), capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("finding", findings(), ids=lambda f: f.id)
def test_the_finding_is_well_formed(finding):
    assert finding.outcome in FAILING
    assert finding.summary and finding.reproducer.strip()
    assert "assert" in finding.reproducer.lower(), "a reproducer must assert the discrepancy"
    assert all(url.startswith("https://github.com/") and ("/issues/" in url or "/pull/" in url)
               for url in finding.upstream), f"upstream names issue or pull-request URLs: {finding.upstream}"


@pytest.mark.slow
@pytest.mark.parametrize("finding", findings(), ids=lambda f: f.id)
def test_the_reproducer_still_reproduces(finding):
    if importlib.util.find_spec(finding.framework) is None:
        pytest.skip(f"{finding.framework} is not installed")
    failure = _outcomes(finding.framework)[finding.id]
    assert not failure, f"{finding.id} no longer reproduces:\n{failure}"


def test_finding_ids_are_unique_across_the_findings_files():
    ids = [f.id for f in findings()]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    assert not twice, f"finding ids used twice: {twice}"


def test_an_argument_window_finding_explains_only_inputs_inside_its_window():
    import numpy as np
    from conformance.vocab.case import Case
    from conformance.vocab.findings import by_id
    from conformance.vocab.records import Record
    finding = by_id("xla-cpu-float64-log1p-inaccurate-near-minus-0.41")
    record = Record.from_json({"case": "c", "framework": "jax", "loss": "binary_focal", "outcome": "mismatch",
                               "check": "value", "variant": "probabilities", "reduction": "none",
                               "origin": "hypothesis", "device": "cpu", "dtype": "float64", "error_eps": 27.1,
                               "detail": "", "at": [1, 0]})

    def case(p):
        return Case("binary_focal", "probabilities", "none", {"input": np.array([[0.9], [p]]),
                    "target": np.array([[1.0], [0.0]])}, {"from_logits": False, "gamma": 0.0})
    assert finding.explains(record, case(0.4121917486190796))
    assert not finding.explains(record, case(0.6))                       # outside the window
    assert not finding.explains(dataclasses.replace(record, dtype="float32"), case(0.41))
    assert not finding.explains(dataclasses.replace(record, error_eps=400.0), case(0.41))
    assert not finding.explains(record, None)                             # the input is needed
