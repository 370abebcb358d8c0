"""compare.judge with tolerance.for_dtype: allowed error = k * eps(dtype) * scale + tiny(dtype).

Every expected outcome here is derived from the tolerance model in
conformance/tolerance.py, never from what ``judge`` happens to return.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from conformance.compare import judge, ulps
from conformance.vocab.dtypes import round_to
from conformance.vocab.tolerance import for_dtype

DTYPES = ("float64", "float32", "float16", "bfloat16")


def a(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def point(expected, scale, actual, dtype: str):
    """judge() for a single point (lo == hi)."""
    return judge(a(expected), a(expected), a(scale), a(actual), for_dtype(dtype))


def bound(tol, scale: float) -> float:
    return tol.k * tol.eps * scale + tol.tiny


def units(tol, distance: float, scale: float) -> float:
    """The documented error measure: distance / (eps * scale + tiny / k)."""
    return distance / (tol.eps * scale + tol.tiny / tol.k)


# ------------------------------------------------------------ the tolerance model

@pytest.mark.parametrize("dtype", DTYPES)
def test_tolerance_table_gives_each_dtype_its_machine_epsilon_smallest_normal_and_a_reason(dtype):
    tol = for_dtype(dtype)
    known = {"float64": (2.0**-52, 2.0**-1022), "float32": (2.0**-23, 2.0**-126),
             "float16": (2.0**-10, 2.0**-14), "bfloat16": (2.0**-7, 2.0**-126)}
    assert (tol.eps, tol.tiny) == known[dtype]
    assert tol.k > 0 and tol.reason.strip()


# --------------------------------------------------------- agreement and its limit

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["above", "below"])
def test_an_error_exactly_at_the_bound_agrees(dtype, sign):
    tol = for_dtype(dtype)
    # lo = 1, scale = 1: k * eps + tiny is exact in float64 for every dtype here.
    v = point(1.0, 1.0, 1.0 + sign * bound(tol, 1.0), dtype)
    assert v.outcome == "agree", v
    assert v.error_eps == pytest.approx(tol.k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["above", "below"])
def test_an_error_a_few_eps_beyond_the_bound_is_a_mismatch(dtype, sign):
    tol = for_dtype(dtype)
    v = point(1.0, 1.0, 1.0 + sign * (bound(tol, 1.0) + 3 * tol.eps), dtype)
    assert v.outcome == "mismatch", v
    assert tol.k < v.error_eps < tol.k + 4
    assert "expected 1" in v.detail


@pytest.mark.parametrize("dtype", DTYPES)
def test_agreement_well_within_the_bound_reports_the_error_in_eps_units(dtype):
    tol = for_dtype(dtype)
    scale = 4.0
    v = point(3.0, scale, 3.0 + 2 * tol.eps * scale, dtype)
    assert v.outcome == "agree"
    assert v.error_eps == pytest.approx(units(tol, 2 * tol.eps * scale, scale), rel=1e-9)
    assert 1.9 < v.error_eps <= 2.0


def test_an_exact_result_has_zero_error():
    assert point([1.5, -2.0], [1.5, 2.0], [1.5, -2.0], "float32").error_eps == 0.0


def test_the_worst_element_decides_and_is_named_in_the_detail():
    tol = for_dtype("float32")
    expected = a([1.0, 2.0, 3.0])
    actual = expected + a([0.0, 100 * tol.eps, tol.eps])
    v = judge(expected, expected, a(1.0), actual, tol)
    assert v.outcome == "mismatch"
    assert v.error_eps == pytest.approx(100.0, rel=1e-6)
    assert "at (1,)" in v.detail


# ------------------------------------------------------------ cancellation noise

def test_cancellation_noise_proportional_to_a_large_scale_is_not_flagged():
    tol = for_dtype("float32")
    # A small value (1e-3) obtained by summing terms of size 1e3: an error of a
    # few eps of 1e3 is 60 % of the value, and conformant.
    v = point(1e-3, 1e3, 1e-3 + 5 * tol.eps * 1e3, "float32")
    assert v.outcome == "agree", v
    assert v.error_eps == pytest.approx(5.0, rel=1e-6)


def test_the_same_absolute_error_on_a_well_conditioned_value_is_a_mismatch():
    tol = for_dtype("float32")
    v = point(1e-3, 1e-3, 1e-3 + 5 * tol.eps * 1e3, "float32")
    assert v.outcome == "mismatch", v


def test_the_scale_is_taken_by_magnitude_so_a_negative_scale_is_not_a_zero_bound():
    tol = for_dtype("float32")
    assert point(1.0, -1.0, 1.0 + 4 * tol.eps, "float32").outcome == "agree"


# --------------------------------------------------------------- special values

@pytest.mark.parametrize("expected,actual", [(math.nan, 0.5), (0.5, math.nan), (math.nan, math.inf),
                                             (2.0, math.inf), (-math.inf, 3.0)],
                         ids=["nan_expected_finite_got", "finite_expected_nan_got", "nan_expected_inf_got",
                              "finite_expected_inf_got", "minus_inf_expected_finite_got"])
def test_a_non_finite_value_on_one_side_only_is_a_nonfinite_mismatch(expected, actual):
    v = point(expected, 1.0, actual, "float32")
    assert v.outcome == "nonfinite-mismatch", v
    assert "non-finite" in v.detail


def test_plus_inf_expected_and_minus_inf_returned_is_a_nonfinite_mismatch():
    assert point(math.inf, 1.0, -math.inf, "float64").outcome == "nonfinite-mismatch"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_matching_non_finite_values_agree(value):
    v = point(value, 1.0, value, "float32")
    assert v.outcome == "agree" and v.error_eps == 0.0


def test_an_exact_value_beyond_float32_range_agrees_with_inf_its_correct_rounding():
    assert point(4e60, 4e60, math.inf, "float32").outcome == "agree"
    assert point(-4e60, 4e60, -math.inf, "float32").outcome == "agree"


def test_an_exact_value_beyond_float32_range_must_not_come_back_finite_or_with_the_wrong_sign():
    assert point(4e60, 4e60, 3.4e38, "float32").outcome == "nonfinite-mismatch"
    assert point(-4e60, 4e60, math.inf, "float32").outcome == "nonfinite-mismatch"


def test_the_same_large_value_in_float64_must_stay_finite():
    assert point(4e60, 4e60, math.inf, "float64").outcome == "nonfinite-mismatch"
    assert point(4e60, 4e60, 4e60, "float64").outcome == "agree"


def test_a_value_just_beyond_float16_max_rounds_to_inf_and_inf_agrees():
    assert point(70000.0, 70000.0, math.inf, "float16").outcome == "agree"
    assert point(60000.0, 60000.0, math.inf, "float16").outcome == "nonfinite-mismatch"


# --------------------------------------------------------- subnormals and flushing

def test_a_subnormal_result_flushed_to_zero_agrees_in_float32():
    assert point(5e-42, 5e-42, 0.0, "float32").outcome == "agree"


def test_a_normal_result_returned_as_zero_is_a_mismatch_in_float32():
    v = point(5e-37, 5e-37, 0.0, "float32")
    assert v.outcome == "mismatch", v


def test_flushing_is_judged_against_the_dtype_own_smallest_normal():
    # 1e-5 is subnormal in float16 (tiny = 6.1e-5) but perfectly normal in float32.
    assert point(1e-5, 1e-5, 0.0, "float16").outcome == "agree"
    assert point(1e-5, 1e-5, 0.0, "float32").outcome == "mismatch"


# -------------------------------------------------------------------- shapes

@pytest.mark.parametrize("actual_shape", [(3,), (2, 1), (), (1, 2)])
def test_a_result_of_another_shape_is_a_mismatch(actual_shape):
    expected = a([1.0, 2.0])
    v = judge(expected, expected, a(1.0), np.ones(actual_shape), for_dtype("float64"))
    assert v.outcome == "mismatch" and v.error_eps == math.inf
    assert "shape" in v.detail


def test_an_empty_result_of_the_right_shape_agrees():
    empty = np.zeros((0, 3))
    assert judge(empty, empty, empty, empty, for_dtype("float32")).outcome == "agree"


# ---------------------------------------------------------- subgradient intervals

@pytest.mark.parametrize("inside", [-1.0, -0.25, 0.0, 0.7, 1.0])
def test_anything_inside_the_subdifferential_agrees_exactly(inside):
    v = judge(a(-1.0), a(1.0), a(1.0), a(inside), for_dtype("float32"))
    assert v.outcome == "agree" and v.error_eps == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("edge,sign", [(1.0, 1.0), (-1.0, -1.0)], ids=["above_hi", "below_lo"])
def test_outside_the_subdifferential_by_more_than_the_tolerance_is_a_mismatch(dtype, edge, sign):
    tol = for_dtype(dtype)
    outside = edge + sign * (bound(tol, 1.0) + 3 * tol.eps)
    v = judge(a(-1.0), a(1.0), a(1.0), a(outside), tol)
    assert v.outcome == "mismatch", v
    assert "[-1, 1]" in v.detail


@pytest.mark.parametrize("dtype", DTYPES)
def test_outside_the_subdifferential_within_the_tolerance_agrees(dtype):
    tol = for_dtype(dtype)
    distance = 0.5 * tol.k * tol.eps
    v = judge(a(-1.0), a(1.0), a(1.0), a(1.0 + distance), tol)
    assert v.outcome == "agree" and v.error_eps == pytest.approx(units(tol, distance, 1.0), rel=1e-9)


def test_an_interval_is_judged_elementwise():
    tol = for_dtype("float64")
    lo, hi = a([-1.0, 0.5]), a([1.0, 0.5])
    assert judge(lo, hi, a(1.0), a([0.9, 0.5]), tol).outcome == "agree"
    assert judge(lo, hi, a(1.0), a([0.5, 0.9]), tol).outcome == "mismatch"


# ---------------------------------------------------------------- zero scale

@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_scale_demands_an_exact_zero_up_to_tiny(dtype):
    tol = for_dtype(dtype)
    assert point(0.0, 0.0, 0.0, dtype).outcome == "agree"
    assert point(0.0, 0.0, tol.tiny / 2, dtype).outcome == "agree"
    assert point(0.0, 0.0, 4 * tol.tiny, dtype).outcome == "mismatch"


def test_zero_scale_catches_an_error_that_would_be_noise_at_any_positive_scale():
    tol = for_dtype("float32")
    assert point(0.0, 1.0, 1e-30, "float32").outcome == "agree"
    v = point(0.0, 0.0, 1e-30, "float32")
    assert v.outcome == "mismatch" and v.error_eps > tol.k


# ------------------------------------------------------------------ ulps of the correctly rounded result

def test_a_correctly_rounded_result_is_at_most_half_an_ulp_off_in_every_narrow_dtype():
    rng = np.random.default_rng(3)           # (float64 values are float64 already: nothing to round)
    for dtype in ("float32", "float16", "bfloat16"):
        exponents = {"float32": 35, "float16": 4, "bfloat16": 35}[dtype]
        x = rng.normal(size=2000) * 10.0 ** rng.integers(-exponents, exponents, 2000)
        rounded = round_to(x, dtype)
        finite = np.isfinite(rounded)
        assert 0.4 < ulps(x[finite], x[finite], rounded[finite], dtype) <= 0.5, dtype


@pytest.mark.parametrize("dtype,step", [("float32", 2.0**-23), ("float16", 2.0**-10), ("bfloat16", 2.0**-7)])
def test_one_step_of_the_dtype_is_one_ulp_near_one_and_in_the_subnormals(dtype, step):
    assert ulps(a(1.0), a(1.0), a(1.0 + step), dtype) == 1.0
    assert ulps(a(-3.0), a(-3.0), a(-3.0 - 4 * step), dtype) == 2.0          # the spacing doubles at 2
    tiny = for_dtype(dtype).tiny
    smallest = tiny * step                                                      # the smallest subnormal
    assert ulps(a(0.0), a(0.0), a(smallest), dtype) == 1.0
    assert ulps(a(tiny), a(tiny), a(tiny + smallest), dtype) == 1.0


def test_ulps_measure_the_distance_to_a_subdifferential_and_treat_specials_as_judge_does():
    assert ulps(a([0.0, -1.0]), a([1.0, 1.0]), a([0.5, 1.0]), "float32") == 0.0      # inside the interval
    assert ulps(a(0.0), a(1.0), a(1.0 + 2.0**-23), "float32") == 1.0                  # one step beyond its end
    assert ulps(a(math.nan), a(math.nan), a(math.nan), "float32") == 0.0
    assert ulps(a(math.nan), a(math.nan), a(1.0), "float32") == math.inf
    assert ulps(a(1.0), a(1.0), a(math.inf), "float32") == math.inf
    assert ulps(a(1e39), a(1e39), a(math.inf), "float32") == 0.0                      # rounds to inf: inf is due
    assert ulps(a(1e39), a(1e39), a(3.4e38), "float32") == math.inf
    assert ulps(a([1.0, 2.0]), a([1.0, 2.0]), a([1.0]), "float32") == math.inf        # wrong shape
    assert ulps(a([]), a([]), a([]), "float32") == 0.0


def test_a_bfloat16_mean_accumulated_in_bfloat16_is_further_off_than_one_rounded_once():
    """What the ranking is for: both may pass the verdict; the ulps tell them apart."""
    rng = np.random.default_rng(0)
    t = round_to(rng.uniform(100.0, 160.0, 125), "bfloat16")
    exact_mean = t.mean()
    once = round_to(a(np.float32(t.astype(np.float32).sum()) / np.float32(t.size)), "bfloat16")
    total = 0.0
    for v in t:                                                                   # every partial sum rounded
        total = float(round_to(a(total + v), "bfloat16"))
    stepwise = round_to(a(total / t.size), "bfloat16")
    assert ulps(a(exact_mean), a(exact_mean), once, "bfloat16") <= 0.5
    assert ulps(a(exact_mean), a(exact_mean), stepwise, "bfloat16") > 1.0
