"""BUG.md drafts (reports/repro_bug.py) read as a maintainer would accept them: the
reproducer first and short, no suite words above "How the suite found this", expected and
actual printed at digits that tell them apart, the relative error right, the upstream
report linked. Drafts are built by hand here, so no framework is needed."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conformance.vocab.findings import Finding
from conformance.vocab.records import Record
from reports import repro_bug, repro_digits, repro_snippet
from reports.repro_found import HEADING

#: the suite's own words, which the part a maintainer reads first does without
SUITE_WORDS = re.compile(r"\b(oracles?|eps|cells?|checks?|variants?|findings?|the suite)\b", re.IGNORECASE)
META = {"frameworks": {"torch": "2.13.0+cpu", "numpy": "2.4.6"}, "machine": {"python": "3.11.7", "platform": "linux"},
        "command": "python -m conformance run", "profile": "smoke", "seed": 0, "started": "now"}
HAND = """import torch, torch.nn.functional as F
out = F.soft_margin_loss(torch.tensor([-100.0]), torch.tensor([1.0]), reduction='none')
assert torch.isinf(out).all(), out   # the mathematics: 100.0"""


def _summary(values, shape=()) -> dict:
    return {"dtype": "float64", "shape": list(shape), "data": [float(v) for v in np.ravel(values)]}


def _finding(reproducer: str = HAND, upstream: tuple[str, ...] = (), summary: str = "") -> Finding:
    return Finding(id="torch-soft-margin-overflow", framework="torch", loss=("soft_margin",), outcome="mismatch",
                   summary=summary or "soft_margin_loss computes log1p(exp(-y x)) as written, so exp overflows.",
                   reproducer=reproducer, upstream=upstream)


def _draft(expected=1.2345678, actual=1.2345679, *, finding=None, expect="numbers", **record) -> repro_bug.Draft:
    fields = dict(case="c", loss="soft_margin", variant="plain", reduction="sum", origin="hypothesis",
                  framework="torch", device="cpu", dtype="float64", check="value", outcome="mismatch",
                  error_eps=365.0, detail="at (): expected 1.2345678, got 1.2345679", k=16.0, support="native",
                  api="torch.nn.functional.soft_margin_loss", expected=_summary(expected, np.shape(expected)), actual=_summary(actual, np.shape(actual)),
                  at=(), finding=finding.id if finding else None)
    fields.update(record)
    arrays = {"input": np.array([0.5, -2.0]), "target": np.array([1.0, -1.0])}
    return repro_bug.Draft(
        slug="torch-soft_margin", framework="torch", loss="soft_margin", variant="plain", check="value",
        outcome=fields["outcome"], count=3, dtypes=["float64"], record=Record(**fields), params={}, reduction="sum",
        arrays=arrays, meta=META, call="torch.nn.functional.soft_margin_loss(input, target, reduction='sum')",
        callee="torch.nn.functional.soft_margin_loss", api=fields["api"], expect=expect, finding=finding,
        how="call", used=("input", "target"), script="torch_repro.py", status="reproduced",
        prefixes=("torch",), oracle=np.array(expected))


def _top(text: str) -> str:
    """What a maintainer reads before the suite's section, without the note to the filer."""
    return re.sub(r"<!--.*?-->", "", text.split(HEADING)[0], flags=re.DOTALL)


def _code_block(text: str) -> list[str]:
    block = text.split("## Reproducer", 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _printed(text: str, label: str) -> str:
    return re.search(rf"- \*\*{label}\*\* \([^`]*\): `([^`]*)`", text).group(1)


@pytest.mark.parametrize("finding", [_finding(), None], ids=["hand-written", "generated"])
def test_the_reproducer_comes_first_and_has_three_to_eight_lines(finding):
    text = repro_bug.render(_draft(finding=finding))
    assert text.index("## Reproducer") < text.index("## Expected vs actual") < text.index("## Environment") \
        < text.index(HEADING)
    lines = _code_block(text)
    assert 3 <= len(lines) <= 8, lines
    if finding is None:              # written from the call with the inputs inline
        assert "torch.tensor([0.5, -2.0], dtype=torch.float64)" in lines[1]
        assert lines[-1] == "print(torch.nn.functional.soft_margin_loss(input, target, reduction='sum').tolist())"
    else:
        assert lines == HAND.splitlines()


def test_a_long_hand_written_reproducer_gives_way_to_the_generated_one_and_moves_to_the_suites_section():
    long = HAND + "\n" + "\n".join(f"assert {i} == {i}" for i in range(8))
    text = repro_bug.render(_draft(finding=_finding(reproducer=long)))
    assert len(_code_block(text)) <= 8 and "print(" in _code_block(text)[-1]
    assert long.strip() in text.split(HEADING)[1]


def test_nothing_above_the_suites_section_speaks_the_suites_language():
    jargon = _finding(summary="The oracle's eps units say so in this check.")
    for d in (_draft(finding=_finding()), _draft(finding=jargon), _draft(),
              _draft(expect="raises", outcome="error-mismatch", raised="RuntimeError: boom", refused="forward"),
              _draft(expect="returns", outcome="error-mismatch")):
        if d.expect == "returns":
            d.oracle_refuses = "target must be -1 or 1"
        text = repro_bug.render(d)
        top = _top(text)
        assert not SUITE_WORDS.search(top), SUITE_WORDS.findall(top)
        assert SUITE_WORDS.search(text.split(HEADING)[1])                 # the suite's words are kept, last
    assert "The oracle's eps units" in repro_bug.render(_draft(finding=jargon)).split(HEADING)[1]


def test_expected_and_actual_agreeing_to_six_digits_print_differently():
    text = repro_bug.render(_draft(1.2345678, 1.2345679))
    expected, actual = _printed(text, "expected"), _printed(text, "actual")
    assert expected != actual, (expected, actual)
    assert f"{1.2345678:.6g}" == f"{1.2345679:.6g}"                        # six digits would hide it
    assert float(expected) == pytest.approx(1.2345678, abs=1e-9) and float(actual) == pytest.approx(1.2345679, abs=1e-9)


def test_array_values_are_printed_at_the_digits_of_their_worst_element():
    text = repro_bug.render(_draft([0.5, 2.000001], [0.5, 2.000002], at=(1,), detail=""))
    assert _printed(text, "expected") == "[0.5000000, 2.000001]"
    assert _printed(text, "actual") == "[0.5000000, 2.000002]"
    assert "worst element (1,)" in text


def test_the_absolute_and_relative_errors_are_printed_and_right():
    text = repro_bug.render(_draft(1.2345678, 1.2345679))
    absolute = abs(1.2345679 - 1.2345678)
    assert f"absolute error **{absolute:.3g}**" in text
    assert f"relative error **{absolute / 1.2345678:.3g}**" in text
    assert "relative error of 8.1e-08" in text.split("## Reproducer")[0]          # in the description too


def test_an_upstream_link_is_printed_when_the_finding_has_one():
    url = "https://github.com/pytorch/pytorch/issues/51912"
    text = repro_bug.render(_draft(finding=_finding(upstream=(url,))))
    assert f"**Upstream**: {url}" in _top(text)
    assert "Upstream" not in repro_bug.render(_draft(finding=_finding()))


@pytest.mark.parametrize("expect", ["raises", "returns"])
def test_an_undefined_or_refused_expectation_keeps_the_order_and_says_what_was_expected(expect):
    d = _draft(expect=expect, outcome="error-mismatch", raised="RuntimeError: all elements should be between 0 and 1",
               refused="forward")
    d.oracle_refuses = "target must be -1 or 1"
    text = repro_bug.render(d)
    assert text.index("## Reproducer") < text.index("## Expected vs actual") < text.index(HEADING)
    if expect == "raises":
        assert "raises `RuntimeError: all elements" in text.split("## Reproducer")[0]
        assert "- **expected**: a value `1.2345678" in text
    else:
        assert "returns a value" in text.split("## Reproducer")[0] and "- **expected**: an error" in text


def test_inputs_too_big_to_inline_point_to_the_script_and_inputs():
    d = _draft()
    d.arrays = {"input": np.zeros(100), "target": np.ones(100)}
    text = repro_bug.render(d)
    assert "too large to write out here" in text and "`torch_repro.py`" in text and "inputs.npz" in text
    assert "```python" not in text.split("## Expected vs actual")[0]


def test_distinct_takes_the_fewest_digits_from_four_that_tell_two_numbers_apart():
    assert repro_digits.distinct(0.5, 0.25) == ("0.5000", "0.2500")
    assert repro_digits.distinct(1.2345678, 1.2345679) == ("1.2345678", "1.2345679")
    assert repro_digits.distinct(100.0, 100.0) == ("100.00000000000000", "100.00000000000000")
    assert repro_digits.distinct(float("-inf"), float("nan")) == ("-inf", "nan")
    assert repro_digits.errors(2.0, 2.5) == (0.5, 0.25) and repro_digits.errors(0.0, 1.0) == (1.0, None)


def test_a_float32_literal_is_the_shortest_text_that_reads_back_to_the_value():
    x = float(np.float32(0.1))
    assert repro_snippet.literal(np.array([x, float("inf")]), "float32") == "[0.1, float('inf')]"
    assert repro_snippet.literal(np.array([x]), "float64") == repr([x])
    assert repro_snippet.literal(np.array([[1, 2]]), "float32") == "[[1, 2]]"


#: a call per framework whose value and gradient NumPy knows: (x - y)^2, summed where it is not
SQUARED = {"torch": "torch.nn.functional.mse_loss(input, target, reduction='none')",
           "jax": "optax.losses.squared_error(input, target)",
           "tensorflow": "tf.math.squared_difference(input, target)"}


@pytest.mark.slow
@pytest.mark.parametrize("grad_of", [None, "input"], ids=["value", "gradient"])
@pytest.mark.parametrize("framework", sorted(SQUARED))
def test_a_snippet_runs_and_prints_the_calls_value_or_gradient(framework, grad_of, tmp_path):
    module = {"jax": "optax"}.get(framework, framework)
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    x, y = np.array([0.5, -2.0, 3.25]), np.array([1.0, 0.0, float(np.float32(0.1))])
    code = repro_snippet.snippet(framework, SQUARED[framework], {"input": x, "target": y}, "float32", grad_of,
                                 ("input", "target"))
    assert code is not None and 3 <= len(code.splitlines()) <= 8, code
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    want = (x32 - y32) ** 2 if grad_of is None else 2 * (x32 - y32)
    assert np.array_equal(printed, want.astype(np.float64)), (printed, want)
