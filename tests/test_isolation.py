"""Isolation: importing the suite pulls in no framework; the oracle never does; unknown
frameworks are named with the known ones; the HTML report escapes what comes from inputs."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import frameworks
from conformance.vocab.case import Case
from conformance.vocab.records import Record
from reports import html

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow", "keras", "optax", "flax")
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def modules_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; the top-level modules it loaded ("all"), the
    frameworks among them, and every module by its full name."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout.splitlines()[-1])
    loaded = sorted({m.split(".")[0] for m in modules})
    return {"frameworks": [m for m in loaded if m in FRAMEWORKS], "all": loaded, "modules": modules}


@pytest.mark.slow
def test_importing_the_suite_pulls_in_no_framework():
    got = modules_after("import conformance, conformance.engine, conformance.cli, adapters, reference, reports.html")
    assert "conformance" in got["all"] and "reports" in got["all"]
    assert got["frameworks"] == []


def test_importing_every_adapter_module_and_getting_every_adapter_imports_no_framework():
    got = modules_after("from conformance import frameworks\n"
                        "import adapters.torch.adapter, adapters.jax.adapter, adapters.tensorflow.adapter\n"
                        "[frameworks.get(n) for n in frameworks.names()]")
    assert got["frameworks"] == []


def test_the_oracle_evaluating_every_loss_imports_no_framework_and_none_of_the_suite():
    # One generated case per loss, drawn here (Hypothesis) and handed over as plain JSON.
    from conformance import strategies
    from conformance.vocab import catalog
    cases = []
    for spec in catalog.catalog().values():
        variant = next(iter(spec.variants))
        case = strategies.draw_cases(spec, variant, spec.reductions[-1], count=1, seed_value=1)[0]
        cases.append(case.to_json())
    code = f"""
import json, numpy as np, reference
count = 0
for c in json.loads({json.dumps(json.dumps(cases))}):
    arrays = {{k: np.array([float(x) if isinstance(x, str) else x for x in a["data"]],
                          dtype=a["dtype"]).reshape(a["shape"]) for k, a in c["arrays"].items()}}
    reference.evaluate(c["loss"], arrays, c["params"], c["reduction"])
    count += 1
assert count == {len(cases)}
"""
    got = modules_after(code)
    assert got["frameworks"] == []
    assert not {"adapters", "reports", "hypothesis", "jinja2"} & set(got["all"])
    suite = [m for m in got["modules"] if m.split(".")[0] == "conformance"]
    assert set(suite) <= {"conformance", "conformance.vocab"} | {m for m in suite if m.startswith("conformance.vocab.")}
    assert "conformance.vocab.catalog" in suite             # the families come from the catalog


def test_the_probe_would_see_a_framework_if_one_were_imported():
    # Guards the three tests above: they must be able to fail. (A stand-in module, not
    # the real torch: importing it would cost seconds.)
    got = modules_after("import sys, types\nsys.modules['torch.nn'] = types.ModuleType('torch.nn')")
    assert got["frameworks"] == ["torch"]


# ------------------------------------------------------------------ registry

def test_an_unknown_framework_raises_naming_it_and_the_known_ones():
    with pytest.raises(frameworks.UnknownFramework) as info:
        frameworks.get("mxnet")
    message = str(info.value)
    assert "'mxnet'" in message
    for name in ("numpy", "torch", "jax", "tensorflow"):
        assert name in message
    assert isinstance(info.value, ValueError)


def test_the_registry_knows_the_four_frameworks_and_returns_one_instance_each():
    assert set(frameworks.names()) >= {"numpy", "torch", "jax", "tensorflow"}
    assert frameworks.get("numpy") is frameworks.get("numpy")
    assert frameworks.get("numpy").name == "numpy"


# --------------------------------------------------------------- HTML escaping

META = {"profile": "quick", "seed": 0, "dtypes": ["float32"], "devices": ["cpu"],
        "started": "2024-01-01T00:00:00+00:00", "finished": "2024-01-01T00:00:01+00:00", "elapsed_s": 1.0,
        "frameworks": {"numpy": "2.0"}, "machine": {"python": "3.11", "platform": "linux"}}


def hostile_report(where: str) -> str:
    case = Case("mse", "plain", "mean", {"input": np.array([1.0, 2.0]), "target": np.array([0.0, 0.0])},
                note=HOSTILE if where == "note" else "an ordinary note")
    meta = {**META, "frameworks": {"numpy": HOSTILE if where == "version" else "2.0"}}
    record = Record(case.id, "mse", "plain", "mean", "hypothesis", "numpy", "cpu", "float32", "value",
                    "mismatch", error_eps=1e4, detail=HOSTILE if where == "detail" else "an ordinary detail",
                    expected={"dtype": "float64", "shape": [], "data": [2.5]},
                    actual={"dtype": "float64", "shape": [], "data": [2.6]})
    if where == "raised":
        record = dataclasses.replace(record, outcome="error-mismatch", raised=HOSTILE, actual=None)
    return "".join(html.render_all(meta, [record], {case.id: case}).values())      # the report and its loss page


@pytest.mark.parametrize("where", ["note", "detail", "version", "raised"])
def test_the_report_escapes_hostile_text_from_inputs(where):
    text = hostile_report(where)
    assert HOSTILE not in text
    assert ESCAPED in text


def test_the_report_shows_the_discrepancy_it_was_given():
    text = hostile_report("none")
    assert "an ordinary detail" in text and "an ordinary note" in text
    assert text.lower().count("<script") == 2      # each page's own error recorder (the report, the loss's page)
