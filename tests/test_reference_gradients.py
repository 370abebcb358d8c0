"""The oracle's analytic gradients against Richardson-extrapolated central differences of
its own value, and its subgradient bounds at the kinks.

``grads[name]`` is the gradient of ``sum(value)``, so the differenced function is always
``sum(evaluate(...).value)``. Points are drawn away from kinks and domain edges, with a
step h = 2^-10 (1 + |x|): the extrapolated difference has truncation error O(h^4) and
round-off O(eps / h), both far below the 1e-6 relative tolerance.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference

from oracle_checks import RTOL, assert_gradient_matches_differences, richardson, summed  # noqa: F401

REDUCTIONS = ("none", "sum", "mean")
SEEDS = range(3)


# ---------------------------------------------------------------- points away from kinks

def regression_point(rng, kink):
    """|input - target| kept at least 10% of ``kink`` away from 0 and from ``kink``."""
    target = rng.uniform(-3, 3, size=(2, 3))
    size = np.where(rng.random((2, 3)) < 0.5, rng.uniform(0.1, 0.9, (2, 3)), rng.uniform(1.1, 3, (2, 3)))
    return {"input": target + rng.choice([-1.0, 1.0], (2, 3)) * kink * size, "target": target}


REGRESSION = [("l1", {}, 1.0), ("mse", {}, 1.0), ("smooth_l1", {"beta": 1.0}, 1.0),
              ("smooth_l1", {"beta": 0.5}, 0.5), ("smooth_l1", {"beta": 0.0}, 1.0),
              ("huber", {"delta": 1.0}, 1.0), ("huber", {"delta": 2.5}, 2.5)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss,params,kink", REGRESSION,
                         ids=[l + "".join(f"_{k}{v}" for k, v in p.items()) for l, p, _ in REGRESSION])
def test_regression_gradients_wrt_input_and_target_match_finite_differences(loss, params, kink, reduction):
    for seed in SEEDS:
        arrays = regression_point(np.random.default_rng(seed), kink)
        assert_gradient_matches_differences(loss, arrays, params, reduction, ("input", "target"))


def bce_point(rng, variant):
    x, y = rng.uniform(0.05, 0.95, (2, 3)), rng.uniform(0, 1, (2, 3))
    y[0, 0], y[1, 2] = 0.0, 1.0
    arrays = {"input": x, "target": y}
    if "weight" in variant:
        arrays["weight"] = rng.uniform(0.5, 2, (3,))
    if "pos_weight" in variant:
        arrays["pos_weight"] = rng.uniform(0.1, 5, (3,))
    return arrays


BINARY = [("bce", "plain", None), ("bce", "weight", None), ("bce", "plain", {"log_floor": -100.0}),
          ("bce", "weight", {"grad_floor": 1e-12}), ("bce", "plain", {"prob_clip": 1e-7}),
          ("bce_with_logits", "plain", None), ("bce_with_logits", "weight", None),
          ("bce_with_logits", "pos_weight", None), ("bce_with_logits", "weight+pos_weight", None)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss,variant,policies", BINARY,
                         ids=[f"{l}-{v}-{next(iter(p)) if p else 'no_policy'}" for l, v, p in BINARY])
def test_binary_gradients_match_finite_differences(loss, variant, policies, reduction):
    for seed in SEEDS:
        arrays = bce_point(np.random.default_rng(seed), variant)
        if loss == "bce_with_logits":
            arrays["input"] = np.random.default_rng(seed + 10).uniform(-8, 8, (2, 3))
        assert_gradient_matches_differences(loss, arrays, {}, reduction, ("input",), policies)
        # d/dy needs room on both sides of y: targets away from 0 and 1
        arrays["target"] = np.random.default_rng(seed + 20).uniform(0.05, 0.95, (2, 3))
        assert_gradient_matches_differences(loss, arrays, {}, reduction, ("target",), policies)


LAYOUTS = {"unbatched": ((4,), ()), "batched": ((3, 4), (3,)), "kdim": ((2, 4, 3), (2, 3)),
           "kdim2": ((2, 4, 2, 2), (2, 2, 2))}
CLASS_VARIANTS = [("cross_entropy", {}), ("cross_entropy", {"weight": True}),
                  ("cross_entropy", {"ignore_index": 1}), ("cross_entropy", {"label_smoothing": 0.2}),
                  ("cross_entropy", {"weight": True, "ignore_index": -1, "label_smoothing": 0.3}),
                  ("cross_entropy", {"probabilities": True}),
                  ("cross_entropy", {"probabilities": True, "weight": True, "label_smoothing": 0.1}),
                  ("nll", {}), ("nll", {"weight": True}), ("nll", {"weight": True, "ignore_index": 0})]


def class_point(rng, layout, variant):
    shape, lead = LAYOUTS[layout]
    arrays = {"input": rng.normal(0, 3, shape)}
    if variant.get("probabilities"):   # away from 0 and 1: room for the differences
        arrays["target"] = rng.uniform(0.05, 0.95, shape)
    else:
        t = rng.integers(0, 4, lead)
        if "ignore_index" in variant:  # the first row ignored, the others counted
            ignore = variant["ignore_index"]
            t[t == ignore] = (ignore + 1) % 4
            if t.size > 1:
                t.flat[0] = ignore
        arrays["target"] = np.asarray(t, dtype=np.int64)
    if variant.get("weight"):
        arrays["weight"] = rng.uniform(0.25, 3, (4,))
    params = {k: v for k, v in variant.items() if k in ("ignore_index", "label_smoothing")}
    return arrays, params


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("loss,variant", CLASS_VARIANTS,
                         ids=[f"{l}-{'+'.join(v) or 'plain'}" for l, v in CLASS_VARIANTS])
def test_class_gradients_match_finite_differences(loss, variant, layout, reduction):
    for seed in SEEDS:
        arrays, params = class_point(np.random.default_rng(seed), layout, variant)
        wrt = ("input", "target") if variant.get("probabilities") else ("input",)
        assert_gradient_matches_differences(loss, arrays, params, reduction, wrt)


# ---------------------------------------------------------------- kinks and ignored rows

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss,params", [("l1", {}), ("smooth_l1", {"beta": 0.0})], ids=["l1", "smooth_l1_beta0"])
def test_absolute_error_at_zero_difference_has_subgradient_minus_one_to_one(loss, params, reduction):
    x = np.array([0.5, -2.0, 3.0, 1.0])
    t = np.array([0.5, -2.0, 1.0, 4.0])  # d = 0, 0, +2, -3
    n = 4 if reduction == "mean" else 1
    ev = reference.evaluate(loss, {"input": x, "target": t}, params, reduction)
    lo, hi = ev.grads["input"]
    np.testing.assert_array_equal(lo * n, [-1, -1, 1, -1])
    np.testing.assert_array_equal(hi * n, [1, 1, 1, -1])
    tlo, thi = ev.grads["target"]
    np.testing.assert_array_equal(tlo * n, [-1, -1, -1, 1])
    np.testing.assert_array_equal(thi * n, [1, 1, -1, 1])


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["positive", "negative"])
@pytest.mark.parametrize("loss,params,slope", [("huber", {"delta": 1.25}, 1.25), ("huber", {"delta": 0.5}, 0.5),
                                               ("smooth_l1", {"beta": 1.25}, 1.0), ("smooth_l1", {"beta": 0.5}, 1.0)],
                         ids=["huber_1.25", "huber_0.5", "smooth_l1_1.25", "smooth_l1_0.5"])
def test_gradient_is_continuous_exactly_at_the_quadratic_linear_switch(loss, params, slope, sign):
    kink = params.get("delta", params.get("beta"))
    t = np.array([0.75])
    x = t + sign * kink  # exact in binary: |d| == kink
    assert abs(x[0] - t[0]) == kink
    ev = reference.evaluate(loss, {"input": x, "target": t}, params, "sum")
    lo, hi = ev.grads["input"]
    assert lo[0] == hi[0] == sign * slope  # the one-sided limits d/beta -> +-1, delta * sign(d)
    for side in (-np.inf, np.inf):  # the oracle's own gradient on either side of the switch
        near = reference.evaluate(loss, {"input": np.nextafter(x, side), "target": t}, params, "sum")
        assert near.grads["input"][0][0] == pytest.approx(sign * slope, rel=1e-12)
    h = 1e-7
    f = lambda v: summed(loss, {"input": np.array([v]), "target": t}, params, "sum")  # noqa: E731
    right, left = (f(x[0] + h) - f(x[0])) / h, (f(x[0]) - f(x[0] - h)) / h
    assert right == pytest.approx(sign * slope, rel=1e-6) and left == pytest.approx(sign * slope, rel=1e-6)


def test_bce_gradient_is_zero_where_keras_clips_the_probability():
    x, y = np.array([5e-8, 0.5, 1 - 5e-8]), np.array([1.0, 1.0, 0.0])
    ev = reference.evaluate("bce", {"input": x, "target": y}, {}, "sum", {"prob_clip": 1e-7})
    f = lambda v: summed("bce", {"input": v, "target": y}, {}, "sum", {"prob_clip": 1e-7})  # noqa: E731
    for i in (0, 2):
        up, down = x.copy(), x.copy()
        up[i] += 1e-9
        down[i] -= 1e-9
        assert f(up) == f(down)
    np.testing.assert_array_equal(ev.grads["input"][0], [0.0, -2.0, 0.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", ["batched", "kdim"])
@pytest.mark.parametrize("loss,params", [("cross_entropy", {"label_smoothing": 0.3}), ("nll", {})],
                         ids=["cross_entropy_smoothed", "nll"])
def test_ignored_targets_get_exactly_zero_gradient_rows(loss, params, layout, reduction):
    rng = np.random.default_rng(7)
    x = rng.normal(0, 2, LAYOUTS[layout][0])
    t = np.full(LAYOUTS[layout][1], 2, dtype=np.int64)
    t.flat[::2] = -5
    arrays = {"input": x, "target": t, "weight": np.array([0.5, 1.0, 2.0, 1.5])}
    lo, hi = reference.evaluate(loss, arrays, params | {"ignore_index": -5}, reduction).grads["input"]
    rows_lo, rows_hi = np.moveaxis(lo, 1, -1)[t == -5], np.moveaxis(hi, 1, -1)[t == -5]
    assert rows_lo.shape[0] > 0 and np.all(rows_lo == 0) and np.all(rows_hi == 0)
    assert np.all(np.any(np.moveaxis(lo, 1, -1)[t != -5] != 0, axis=-1))  # counted rows do have gradients


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
def test_when_every_target_is_ignored_the_gradient_is_exactly_zero_even_for_the_nan_mean(loss, reduction):
    arrays = {"input": np.array([[0.3, -1.0, 2.0], [1.0, 0.0, 0.5]]), "target": np.array([-1, -1])}
    lo, hi = reference.evaluate(loss, arrays, {"ignore_index": -1}, reduction).grads["input"]
    assert np.array_equal(lo, np.zeros((2, 3))) and np.array_equal(hi, np.zeros((2, 3)))
