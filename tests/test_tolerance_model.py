"""The tolerance model (data/tolerance.toml) on the bugs it exists to catch: a
small term is judged by relative accuracy (its componentwise condition), and a
half-precision sum is held to a float32 accumulator. Each rule has a wrong
answer it must refuse and a right one it must accept."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from conformance.compare import judge
from conformance.oracle import oracle
from conformance.vocab.case import Case
from conformance.vocab.dtypes import numpy_dtype, round_to
from conformance.vocab.tolerance import for_dtype


def verdict(case: Case, dtype: str, value) -> str:
    ev = oracle(case, dtype).evaluation
    actual = np.asarray(value, np.float64).reshape(np.shape(ev.value))
    return judge(ev.value, ev.value, ev.scale, actual, for_dtype(dtype)).outcome


def logits_case(x: float, y: float) -> Case:
    return Case("bce_with_logits", "plain", "none", {"input": np.array([x]), "target": np.array([y])})


@pytest.mark.parametrize("dtype,x", [("float32", -20.0), ("float32", -17.0), ("float64", -40.0)])
def test_a_tiny_softplus_term_needs_relative_accuracy(dtype, x):
    """y = 0: the loss is softplus(x) = log1p(exp(x)); log(1 + exp(x)) is 0 in the dtype."""
    case = logits_case(x, 0.0)
    t = numpy_dtype(dtype).type
    right = np.log1p(np.exp(np.asarray(x, t)))          # in the dtype: relative accuracy
    naive = np.log(t(1) + np.exp(np.asarray(x, t)))     # the 1 + e^x rounds to 1
    assert float(naive) == 0.0 and float(right) > 0
    assert verdict(case, dtype, right) == "agree"
    assert verdict(case, dtype, round_to(np.log1p(np.exp(x)), dtype)) == "agree"
    assert verdict(case, dtype, naive) == "mismatch"


def test_log_of_one_minus_p_fails_where_log1p_is_due():
    case = Case("bce", "plain", "none", {"input": np.array([1e-5]), "target": np.array([0.0])})
    p = np.float32(1e-5)
    assert verdict(case, "float32", -np.log1p(-p)) == "agree"
    assert verdict(case, "float32", -np.log(np.float32(1) - p)) == "mismatch"


def test_a_large_term_keeps_its_absolute_allowance():
    """Where the term is large the condition is too: a few roundings of it pass."""
    case = logits_case(20.0, 0.0)                        # softplus(20) = 20.000000002
    assert verdict(case, "float32", np.float32(20.0)) == "agree"
    assert verdict(case, "float32", np.nextafter(np.float32(20.0), np.float32(30.0))) == "agree"


def _ones_case(n: int, reduction: str) -> Case:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, n)
    return Case("l1", "plain", reduction, {"input": x, "target": np.zeros(n)})


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_a_half_precision_sum_is_held_to_a_float32_accumulator(dtype, reduction):
    n = 16_424
    case = _ones_case(n, reduction)
    t = numpy_dtype(dtype).type
    terms = np.abs(oracle(case, dtype).arrays["input"]).astype(t)            # each term exact in the dtype
    in_float32 = terms.astype(np.float32).sum(dtype=np.float32)
    stalled = np.add.accumulate(terms, dtype=t)[-1]                          # one term at a time in the dtype
    if reduction == "mean":
        in_float32, stalled = in_float32 / np.float32(n), stalled / t(n)
    assert verdict(case, dtype, np.asarray(in_float32).astype(t)) == "agree"
    assert verdict(case, dtype, stalled) == "mismatch"


def test_the_accumulator_is_float32_for_half_precision_and_the_dtype_otherwise():
    assert for_dtype("bfloat16").accumulator_eps == for_dtype("float16").accumulator_eps == 2.0 ** -23
    assert for_dtype("float32").accumulator_eps == 2.0 ** -23
    assert for_dtype("float64").accumulator_eps == 2.0 ** -52
    assert ml_dtypes.finfo(ml_dtypes.bfloat16).eps == 2.0 ** -7
