"""The divergence family's oracle: values against mpmath (formulas written from the
torch.nn / optax / Keras docs), gradients against finite differences with every
reduction, the 0 log 0 = 0 conventions, the clamp's and the clip's corners, the
policy knobs, identities between the losses, and refusals."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

KL_REDUCTIONS = ("none", "sum", "mean", "batchmean")
REDUCTIONS = ("none", "sum", "mean")


def _check(loss, arrays, params, reduction, terms, floors):
    ev = reference.evaluate(loss, arrays, params, reduction)
    if reduction == "batchmean":
        n = next(iter(arrays.values())).shape[0]
        assert_round_off(ev, terms, floors, "mean", denominator=mp.mpf(n))
    else:
        assert_round_off(ev, terms, floors, reduction)


def _matrix(data, elements, n, c):
    return np.array(data.draw(st.lists(elements, min_size=n * c, max_size=n * c))).reshape(n, c)


# -- kl_div -------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(KL_REDUCTIONS), st.booleans())
def test_kl_div_matches_mpmath(data, reduction, log_target):
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    x = _matrix(data, st.floats(-30, 0), n, c)
    t = _matrix(data, st.floats(-30, 0) if log_target else st.sampled_from([0.0, 1.0]) | st.floats(0, 1), n, c)
    with mp.workdps(DPS):
        if log_target:   # KLDivLoss(log_target=True): exp(t) (t - x)
            terms = mp_array(x.shape, lambda i: mp.exp(F(t[i])) * (F(t[i]) - F(x[i])))
            floors = mp_array(x.shape, lambda i: mp.exp(F(t[i])) * (abs(F(t[i])) + abs(F(x[i]))))
        else:            # t (log t - x), 0 log 0 = 0
            terms = mp_array(x.shape, lambda i: 0 if t[i] == 0 else F(t[i]) * (mp.log(F(t[i])) - F(x[i])))
            floors = mp_array(x.shape, lambda i: 0 if t[i] == 0 else
                              F(t[i]) * (abs(mp.log(F(t[i]))) + abs(F(x[i]))))
    _check("kl_div", {"input": x, "target": t}, {"log_target": log_target}, reduction, terms, floors)


@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_gradients_match_finite_differences(reduction, log_target):
    rng = np.random.default_rng(1)
    x = np.log(rng.dirichlet(np.ones(4), 3))
    t = np.log(rng.dirichlet(np.ones(4), 3)) if log_target else rng.uniform(0.05, 1.0, (3, 4))
    assert_gradient_matches_differences("kl_div", {"input": x, "target": t}, {"log_target": log_target},
                                        reduction, ("input", "target"))


def test_kl_div_batchmean_divides_by_the_first_dimension_mean_by_every_element():
    x, t = np.log(np.full((2, 4), 0.25)), np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    total = float(reference.evaluate("kl_div", {"input": x, "target": t}, {}, "sum").value)
    assert math.isclose(total, math.log(2) + math.log(4))             # each row's KL(t || uniform)
    assert float(reference.evaluate("kl_div", {"input": x, "target": t}, {}, "batchmean").value) == total / 2
    assert float(reference.evaluate("kl_div", {"input": x, "target": t}, {}, "mean").value) == total / 8
    unbatched = reference.evaluate("kl_div", {"input": x[0], "target": t[0]}, {}, "batchmean")
    assert math.isclose(float(unbatched.value), math.log(2) / 4)        # torch: input.size(0) = C


def test_kl_div_zero_probability_contributes_nothing_and_has_an_infinite_target_slope():
    ev = reference.evaluate("kl_div", {"input": np.array([-np.inf, 0.0, -1.0]),
                                       "target": np.array([0.0, 1.0, 0.0])}, {}, "none")
    assert ev.value.tolist() == [0.0, 0.0, 0.0]
    assert ev.grads["input"][0].tolist() == [-0.0, -1.0, -0.0]
    g = ev.grads["target"][0]
    assert np.isnan(g[0]) and g[1] == 1.0 and g[2] == -np.inf       # log 0 + 1 - x; -inf + inf at x = -inf
    log_ev = reference.evaluate("kl_div", {"input": np.array([-1.0]), "target": np.array([-np.inf])},
                                {"log_target": True}, "none")
    assert log_ev.value.tolist() == [0.0] and log_ev.grads["target"][0].tolist() == [0.0]


def test_kl_div_nan_propagates_to_value_and_gradients():
    ev = reference.evaluate("kl_div", {"input": np.array([np.nan, -1.0]), "target": np.array([0.0, 0.5])},
                            {}, "none")
    assert np.isnan(ev.value[0]) and np.isnan(ev.grads["input"][0][0]) and np.isnan(ev.grads["target"][0][0])
    assert np.isfinite(ev.value[1])


def test_kl_div_refuses_unequal_shapes():
    with pytest.raises(reference.DomainError):
        reference.evaluate("kl_div", {"input": np.zeros((3, 1)), "target": np.full((1, 3), 0.5)}, {}, "sum")


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_keras_clip_policy_matches_mpmath_and_differences(log_target):
    clip = (1e-7, 1.0)
    x = np.array([-20.0, -1.0, -0.3, -2.0])            # exp(-20) < 1e-7: clipped
    t = np.array([-1.5, -20.0, -0.2, -0.7]) if log_target else np.array([0.3, 0.0, 0.6, 0.1])
    ev = reference.evaluate("kl_div", {"input": x, "target": t}, {"log_target": log_target}, "none",
                            {"prob_clip": clip})
    with mp.workdps(DPS):
        for i in range(4):   # y_true * log(y_true / y_pred), both clipped to [1e-7, 1]
            yt = min(max(mp.exp(F(t[i])) if log_target else F(t[i]), mp.mpf(clip[0])), 1)
            yp = min(max(mp.exp(F(x[i])), mp.mpf(clip[0])), 1)
            assert abs(F(ev.value[i]) - yt * mp.log(yt / yp)) <= 1e-14 * (1 + abs(yt * mp.log(yt / yp)))
    assert ev.grads["input"][0][0] == 0.0                 # below the clip: flat
    assert ev.grads["target"][0][1] == 0.0                # target below the clip: flat
    inside = {"input": x[[1, 2, 3]], "target": t[[0, 2, 3]]}   # strictly inside both clips
    assert_gradient_matches_differences("kl_div", inside, {"log_target": log_target}, "sum", ("input", "target"),
                                        {"prob_clip": clip})


def test_kl_div_keras_clip_corner_is_a_segment():
    ev = reference.evaluate("kl_div", {"input": np.array([0.0]), "target": np.array([0.5])}, {}, "sum",
                            {"prob_clip": (1e-7, 1.0)})
    lo, hi = ev.grads["input"]                            # exp(0) = 1 is the clip's upper edge
    assert (lo[0], hi[0]) == (-0.5, 0.0)


# -- generalized / convex KL divergence ----------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(KL_REDUCTIONS))
def test_generalized_kl_matches_mpmath(data, reduction):
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    x = _matrix(data, st.floats(-20, 20), n, c)
    t = _matrix(data, st.sampled_from([0.0, 1.0]) | st.floats(0, 50), n, c)
    with mp.workdps(DPS):   # Bregman divergence of p log p - p: t log t - t x + e^x - t
        terms = mp_array(x.shape, lambda i: (0 if t[i] == 0 else F(t[i]) * mp.log(F(t[i])))
                         - F(t[i]) * F(x[i]) + mp.exp(F(x[i])) - F(t[i]))
        floors = mp_array(x.shape, lambda i: (0 if t[i] == 0 else abs(F(t[i]) * mp.log(F(t[i]))))
                          + abs(F(t[i]) * F(x[i])) + mp.exp(F(x[i])) + F(t[i]))
    _check("generalized_kl_divergence", {"input": x, "target": t}, {}, reduction, terms, floors)


@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
def test_generalized_kl_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(2)
    x, t = rng.uniform(-3, 3, (3, 4)), rng.uniform(0.1, 5.0, (3, 4))
    assert_gradient_matches_differences("generalized_kl_divergence", {"input": x, "target": t}, {}, reduction,
                                        ("input", "target"))


def test_generalized_kl_of_distributions_is_the_kl_divergence_and_convex_is_its_alias():
    rng = np.random.default_rng(3)
    x, t = np.log(rng.dirichlet(np.ones(5), 4)), rng.dirichlet(np.ones(5), 4)
    arrays = {"input": x, "target": t}
    gen = reference.evaluate("generalized_kl_divergence", arrays, {}, "batchmean")
    kl = reference.evaluate("kl_div", arrays, {}, "batchmean")
    assert math.isclose(float(gen.value), float(kl.value), rel_tol=1e-12, abs_tol=1e-15)  # sum e^x = sum t = 1
    convex = reference.evaluate("convex_kl_divergence", arrays, {}, "none")
    np.testing.assert_array_equal(convex.value, reference.evaluate("generalized_kl_divergence", arrays, {},
                                                                   "none").value)


def test_generalized_kl_zero_target_at_zero_prediction_is_zero():
    ev = reference.evaluate("generalized_kl_divergence", {"input": np.array([-np.inf, 1.0]),
                                                          "target": np.array([0.0, 0.0])}, {}, "none")
    assert ev.value[0] == 0.0 and ev.value[1] == math.e and ev.grads["target"][0][1] == -np.inf


# -- poisson_nll ----------------------------------------------------------------------
def _stirling(y):
    return F(y) * mp.log(F(y)) - F(y) + mp.log(2 * mp.pi * F(y)) / 2 if y > 1 else mp.mpf(0)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans(), st.booleans())
def test_poisson_nll_matches_mpmath(data, reduction, log_input, full):
    n = data.draw(st.integers(0, 6))
    x = np.array(data.draw(st.lists(st.floats(-20, 20) if log_input else st.floats(0, 100), min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0]) | st.floats(0, 20), min_size=n, max_size=n)))
    eps = data.draw(st.sampled_from([1e-8, 0.5]))
    with mp.workdps(DPS):
        def stirling_size(i):
            return F(y[i]) * (abs(mp.log(F(y[i]))) + 1) + abs(mp.log(2 * mp.pi * F(y[i]))) / 2 if full and y[i] > 1 else 0
        if log_input:   # exp(x) - y x
            terms = mp_array(x.shape, lambda i: mp.exp(F(x[i])) - F(y[i]) * F(x[i]) + _stirling(y[i]) * full)
            floors = mp_array(x.shape, lambda i: mp.exp(F(x[i])) + abs(F(y[i]) * F(x[i])) + stirling_size(i))
        else:           # x - y log(x + eps); the log of a rounded sum is off by eps(float64)
            terms = mp_array(x.shape, lambda i: F(x[i]) - F(y[i]) * mp.log(F(x[i]) + F(eps)) + _stirling(y[i]) * full)
            floors = mp_array(x.shape, lambda i: F(x[i]) + F(y[i]) * (abs(mp.log(F(x[i]) + F(eps))) + 1)
                              + stirling_size(i))
    ev = reference.evaluate("poisson_nll", {"input": x, "target": y},
                            {"log_input": log_input, "full": full, "eps": eps}, reduction)
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input,full", [(True, False), (True, True), (False, False), (False, True)])
def test_poisson_nll_gradients_match_finite_differences(reduction, log_input, full):
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, 6) if log_input else rng.uniform(0.2, 5.0, 6)
    y = np.array([0.0, 1.0, 2.0, 3.0, 7.0, 0.5])
    assert_gradient_matches_differences("poisson_nll", {"input": x, "target": y},
                                        {"log_input": log_input, "full": full, "eps": 1e-3}, reduction, ("input",))


def test_poisson_nll_log_rate_and_rate_agree_and_a_zero_count_at_rate_zero_costs_nothing():
    r, y = np.array([0.5, 2.0, 7.0]), np.array([0.0, 3.0, 4.0])
    a = reference.evaluate("poisson_nll", {"input": np.log(r), "target": y}, {}, "none")
    b = reference.evaluate("poisson_nll", {"input": r, "target": y}, {"log_input": False, "eps": 0.0}, "none")
    np.testing.assert_allclose(a.value, b.value, rtol=1e-14)
    np.testing.assert_allclose(a.grads["input"][0], b.grads["input"][0] * r, rtol=1e-14)   # chain rule d r/d log r
    zero = reference.evaluate("poisson_nll", {"input": np.array([-np.inf]), "target": np.array([0.0])}, {}, "none")
    rate0 = reference.evaluate("poisson_nll", {"input": np.array([0.0, 0.0]), "target": np.array([0.0, 2.0])},
                               {"log_input": False, "eps": 0.0}, "none")
    assert zero.value[0] == 0.0 and rate0.value.tolist() == [0.0, np.inf] and rate0.grads["input"][0][0] == 1.0


def test_poisson_nll_stirling_term_only_above_one():
    y = np.array([0.0, 1.0, 1.5])
    base = reference.evaluate("poisson_nll", {"input": np.zeros(3), "target": y}, {}, "none").value
    full = reference.evaluate("poisson_nll", {"input": np.zeros(3), "target": y}, {"full": True}, "none").value
    assert full[0] == base[0] and full[1] == base[1]
    assert math.isclose(full[2] - base[2], 1.5 * math.log(1.5) - 1.5 + 0.5 * math.log(3 * math.pi), rel_tol=1e-14)


def test_poisson_nll_keras_fixed_epsilon_replaces_eps():
    x, y = np.array([0.0, 1.0]), np.array([2.0, 3.0])
    ev = reference.evaluate("poisson_nll", {"input": x, "target": y}, {"log_input": False, "eps": 0.25}, "none",
                            {"fixed_eps": 1e-7})
    np.testing.assert_allclose(ev.value, x - y * np.log(x + 1e-7), rtol=1e-15)   # keras.losses.poisson


def test_poisson_nll_refuses_unequal_shapes():
    with pytest.raises(reference.DomainError):
        reference.evaluate("poisson_nll", {"input": np.zeros((3, 1)), "target": np.ones((1, 3))}, {}, "sum")


# -- gaussian_nll ---------------------------------------------------------------------
VAR_SHAPES = {"same": lambda n, d: (n, d), "row": lambda n, d: (n,), "row_kept": lambda n, d: (n, 1)}


def _row_var(var, n, d):
    return var.reshape(n, 1) if var.shape != (n, d) else var


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(sorted(VAR_SHAPES)), st.booleans())
def test_gaussian_nll_matches_mpmath(data, reduction, var_shape, full):
    n, d = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x, y = _matrix(data, st.floats(-50, 50), n, d), _matrix(data, st.floats(-50, 50), n, d)
    shape = VAR_SHAPES[var_shape](n, d)
    var = np.array(data.draw(st.lists(st.sampled_from([0.0, 1e-7]) | st.floats(0, 10),
                                      min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))).reshape(shape)
    eps = data.draw(st.sampled_from([1e-6, 0.5]))
    v = _row_var(var, n, d)                                # one variance per row, by torch's rule
    with mp.workdps(DPS):
        def term(i):
            vc = max(F(v[i[0], i[1] if v.shape[1] == d else 0]), F(eps))
            return (mp.log(vc) + (F(x[i]) - F(y[i])) ** 2 / vc) / 2 + (mp.log(2 * mp.pi) / 2 if full else 0)
        def size(i):
            vc = max(F(v[i[0], i[1] if v.shape[1] == d else 0]), F(eps))
            return (abs(mp.log(vc)) + (F(x[i]) - F(y[i])) ** 2 / vc) / 2 + (mp.log(2 * mp.pi) / 2 if full else 0)
        terms = mp_array(x.shape, term)
        floors = mp_array(x.shape, size)
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"full": full, "eps": eps},
                            reduction)
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", sorted(VAR_SHAPES))
def test_gaussian_nll_gradients_match_finite_differences(reduction, var_shape):
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-3, 3, (3, 4)), rng.uniform(-3, 3, (3, 4))
    var = rng.uniform(0.2, 3.0, VAR_SHAPES[var_shape](3, 4))
    assert_gradient_matches_differences("gaussian_nll", {"input": x, "target": y, "var": var},
                                        {"full": True, "eps": 0.1}, reduction, ("input", "target", "var"))


def test_gaussian_nll_target_with_a_dimension_of_one_broadcasts_and_sums_its_gradient():
    rng = np.random.default_rng(6)
    x, y, var = rng.uniform(-3, 3, (3, 4)), rng.uniform(-3, 3, (3, 1)), rng.uniform(0.5, 2.0, (3, 4))
    assert_gradient_matches_differences("gaussian_nll", {"input": x, "target": y, "var": var}, {}, "mean",
                                        ("input", "target", "var"))
    wide = reference.evaluate("gaussian_nll", {"input": x, "target": np.repeat(y, 4, 1), "var": var}, {}, "none")
    narrow = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {}, "none")
    np.testing.assert_array_equal(wide.value, narrow.value)


def test_gaussian_nll_one_dimension_fewer_means_one_variance_per_row_even_when_square():
    x, y, var = np.eye(3) * 2.0, np.zeros((3, 3)), np.array([0.5, 2.0, 8.0])
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {}, "none")
    per_row = 0.5 * (np.log(var)[:, None] + x ** 2 / var[:, None])
    np.testing.assert_allclose(ev.value, per_row, rtol=1e-15)


def test_gaussian_nll_variance_below_eps_is_clamped_with_zero_gradient_and_a_segment_at_eps():
    x, y, var = np.array([1.0, 2.0, 1.0]), np.zeros(3), np.array([0.0, 0.25, 2.0])
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"eps": 0.25}, "none")
    assert math.isclose(ev.value[0], 0.5 * (math.log(0.25) + 4.0))
    lo, hi = ev.grads["var"]
    at_eps = 0.5 * (1 - 16.0) / 0.25                               # d/dv at v = eps: negative
    assert (lo[0], hi[0]) == (0.0, 0.0) and (lo[1], hi[1]) == (at_eps, 0.0)
    assert lo[2] == hi[2] == 0.5 * (1 - 0.5) / 2.0


def test_gaussian_nll_torch_straight_through_knob_is_the_unclamped_derivative_at_eps():
    x, y, var = np.array([1.0, 2.0]), np.zeros(2), np.array([1e-8, 3.0])
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"eps": 0.5}, "sum",
                            {"var_gradient": "straight_through"})
    g = ev.grads["var"][0]
    assert math.isclose(g[0], 0.5 * (1 / 0.5 - 1.0 / 0.25), rel_tol=1e-15)     # not 0: torch's documented note
    assert math.isclose(g[1], 0.5 * (1 / 3.0 - 4.0 / 9.0), rel_tol=1e-15)


@pytest.mark.parametrize("var", [np.array([[-1.0, 1.0]]), np.array([[0.5, -1e-300]])])
def test_gaussian_nll_refuses_a_negative_variance_as_a_value_dependent_error(var):
    with pytest.raises(reference.DomainError) as caught:
        reference.evaluate("gaussian_nll", {"input": np.ones((1, 2)), "target": np.zeros((1, 2)), "var": var}, {},
                           "mean")
    assert caught.value.value_dependent


@pytest.mark.parametrize("x_shape,y_shape,var_shape", [
    ((2, 3), (2, 3), (3,)),        # var neither (N,), (N, 1) nor (N, D)
    ((2, 3), (2, 3), ()),          # a 0-d var fits only a 1-D input
    ((2, 3), (2, 3), (1, 1)),      # two dimensions of 1
    ((2, 1), (2, 3), (2, 1)),      # the target wider than the input
    ((2, 3), (3,), (2, 3)),        # the target of another rank
])
def test_gaussian_nll_refuses_shapes_outside_the_documented_ones(x_shape, y_shape, var_shape):
    with pytest.raises(reference.DomainError) as caught:
        reference.evaluate("gaussian_nll", {"input": np.zeros(x_shape), "target": np.zeros(y_shape),
                                            "var": np.ones(var_shape)}, {}, "mean")
    assert not caught.value.value_dependent


def test_gaussian_nll_nan_propagates_through_the_clamp():
    ev = reference.evaluate("gaussian_nll", {"input": np.array([0.0, 1.0]), "target": np.zeros(2),
                                             "var": np.array([np.nan, 1.0])}, {}, "none")
    assert np.isnan(ev.value[0]) and np.isnan(ev.grads["var"][0][0]) and np.isnan(ev.grads["input"][0][0])
    assert ev.value[1] == 0.5
