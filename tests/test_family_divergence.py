"""The divergence family's oracle: values against mpmath (formulas written from the
torch.nn / optax / Keras docs), gradients against finite differences with every
reduction, the 0 log 0 = 0 conventions, the clamp's and the clip's corners, the
policy knobs (each checked against the framework's documented formula, written
here from the docs' text), log y! and digamma against mpmath, identities between
the losses, and refusals."""
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
#: torch's documented conventions, as the torch adapter declares them (adapters/torch/recipes/divergence.py)
TORCH_POISSON = {"stirling": (-math.inf, 1.0), "rate_eps": True}
EPS64 = 2.0 ** -52


def _log_factorial(y):
    """log y! = log Gamma(y + 1), with 1 + y formed exactly (a tiny count keeps its digits)."""
    with mp.workdps(400):
        return +mp.loggamma(mp.fadd(1, F(y), exact=True))


def _psi1p(y):
    with mp.workdps(400):
        return +mp.digamma(mp.fadd(1, F(y), exact=True))


LOG_FACTORIAL_POINTS = ([0.0, 5e-324, 1e-300, 1e-20, 1e-8, 0.1, 0.25, 0.4476, np.nextafter(0.5, 0), 0.5,
                         0.75, 1.0, 1.0 + 2.0 ** -40, 1.0 - 2.0 ** -40, 1.3, np.nextafter(1.75, 0), 1.75, 1.8110377,
                         2.0, 2.5, 3.0, 7.0, 20.0, 171.5, 1e5, 1e15, 1e300]
                        + list(np.random.default_rng(11).uniform(0.0, 4.0, 200)))


@pytest.mark.slow
def test_log_factorial_matches_mpmath_to_a_few_eps_of_its_condition():
    from reference.gamma import log_factorial
    y = np.array(LOG_FACTORIAL_POINTS)
    got = log_factorial(y)
    for yi, gi in zip(y, got):
        want = _log_factorial(yi)
        bound = 8 * EPS64 * (abs(want) + F(yi) * abs(_psi1p(yi))) + mp.mpf(2.0 ** -1022)
        assert abs(F(gi) - want) <= bound, (yi, gi, mp.nstr(want, 20))
    # y near 0 keeps relative accuracy: log Gamma(1 + y) = -gamma y + O(y^2)
    assert math.isclose(float(log_factorial(np.array([1e-20]))[0]), -0.5772156649015329e-20, rel_tol=4 * EPS64)
    assert log_factorial(np.array([0.0, 1.0]))[0] == 0.0 and log_factorial(np.array([1.0]))[0] == 0.0
    # Gamma(y + 1) > 0 for every y > -1 (log Gamma is real there), and between poles further down
    below = np.array([-5.960464477539063e-08, -0.3, -0.5, -0.9, -2.5, -4.25])
    for yi, gi in zip(below, log_factorial(below)):
        with mp.workdps(DPS):
            want = mp.log(mp.gamma(F(yi) + 1))       # real: mp.loggamma takes another branch below -1
        assert abs(F(gi) - want) <= 8 * EPS64 * (abs(want) + abs(F(yi) * _psi1p(yi))), (yi, gi)
    edge = log_factorial(np.array([np.inf, np.nan, -1.0, -2.0, -1.5, -3.25]))
    assert edge[0] == np.inf and np.isnan(edge[1:]).all()          # poles; Gamma(-0.5), Gamma(-2.25) < 0
    assert log_factorial(np.float32([2.0])).dtype == np.float32
    assert log_factorial(np.array(3.0)).shape == () and math.isclose(float(log_factorial(np.array(3.0))), math.log(6))


def test_the_zeta_table_of_the_log_gamma_series_matches_mpmath():
    from reference.gamma import _ZETA_MINUS_ONE
    with mp.workdps(40):
        for k, z in enumerate(_ZETA_MINUS_ONE, start=2):
            assert z == float(mp.zeta(k) - 1), k


def test_digamma_matches_mpmath():
    from reference.gamma import digamma
    x = np.concatenate([[1e-300, 1e-5, 0.3, 1.0, 1.0 + 1e-12, 1.4616321449683622, 1.5, 2.0, 5.5, 9.99, 10.0,
                         37.2, 1e10, 1e300], np.random.default_rng(12).uniform(0.5, 30.0, 200)])
    got = digamma(x)
    with mp.workdps(DPS):
        for xi, gi in zip(x, got):
            want = mp.digamma(F(xi))
            assert abs(F(gi) - want) <= 8 * EPS64 * max(1, abs(want)), (xi, gi, mp.nstr(want, 20))
    with mp.workdps(DPS):                                             # the reflection below 0
        for xi, gi in zip([-0.5, -1.25, -7.3], digamma(np.array([-0.5, -1.25, -7.3]))):
            want = mp.digamma(F(xi))
            assert abs(F(gi) - want) <= 1e-13 * max(1, abs(want)), (xi, gi)
    edge = digamma(np.array([np.inf, 0.0, -1.0, np.nan]))
    assert edge[0] == np.inf and np.isnan(edge[1:]).all()


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans(), st.booleans())
def test_poisson_nll_matches_mpmath(data, reduction, log_input, full):
    """The mathematics: exp(x) - y x or x - y log x (no eps), full: + log y! exactly."""
    n = data.draw(st.integers(0, 6))
    rates = st.floats(0, 100, exclude_min=True)                # x = 0 with y > 0 is +inf: its own test
    x = np.array(data.draw(st.lists(st.floats(-20, 20) if log_input else rates, min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 1e-12]) | st.floats(0, 20),
                                    min_size=n, max_size=n)))
    eps = data.draw(st.sampled_from([1e-8, 0.5]))               # torch's parameter: no effect on the mathematics
    with mp.workdps(DPS):
        def log_fact(i):
            return _log_factorial(y[i]) if full else mp.mpf(0)

        def log_fact_size(i):   # the condition of log Gamma(y + 1): |log y!| + y psi(y + 1)
            return abs(_log_factorial(y[i])) + F(y[i]) * abs(_psi1p(y[i])) if full else 0
        if log_input:   # exp(x) - y x
            terms = mp_array(x.shape, lambda i: mp.exp(F(x[i])) - F(y[i]) * F(x[i]) + log_fact(i))
            floors = mp_array(x.shape, lambda i: mp.exp(F(x[i])) + abs(F(y[i]) * F(x[i])) + log_fact_size(i))
        else:           # x - y log x, 0 log 0 = 0
            terms = mp_array(x.shape, lambda i: F(x[i]) - (0 if y[i] == 0 else F(y[i]) * mp.log(F(x[i])))
                             + log_fact(i))
            floors = mp_array(x.shape, lambda i: F(x[i]) + F(y[i]) * abs(mp.log(F(x[i]))) + log_fact_size(i))
    ev = reference.evaluate("poisson_nll", {"input": x, "target": y},
                            {"log_input": log_input, "full": full, "eps": eps}, reduction)
    assert_round_off(ev, terms, floors, reduction)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans(), st.booleans())
def test_poisson_nll_torch_policy_is_the_documented_formula(data, reduction, log_input, full):
    """With torch's knobs the oracle computes the formula of the torch.nn.PoissonNLLLoss
    docs, written here from their text: log_input: exp(input) - target*input; else
    input - target*log(input+eps); full: + the Stirling approximation term
    target*log(target) - target + 0.5*log(2*pi*target), 'used for target values more
    than 1. For targets less or equal to 1 zeros are added to the loss.'"""
    n = data.draw(st.integers(0, 6))
    x = np.array(data.draw(st.lists(st.floats(-20, 20) if log_input else st.floats(0, 100), min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0]) | st.floats(0, 20), min_size=n, max_size=n)))
    eps = data.draw(st.sampled_from([1e-8, 0.5, 2.0 ** -20]))
    with mp.workdps(DPS):
        def stirling(i):
            t = F(y[i])
            return t * mp.log(t) - t + mp.log(2 * mp.pi * t) / 2 if full and y[i] > 1 else mp.mpf(0)

        def stirling_size(i):
            t = F(y[i])
            return t * (abs(mp.log(t)) + 1) + abs(mp.log(2 * mp.pi * t)) / 2 if full and y[i] > 1 else 0
        if log_input:
            terms = mp_array(x.shape, lambda i: mp.exp(F(x[i])) - F(y[i]) * F(x[i]) + stirling(i))
            floors = mp_array(x.shape, lambda i: mp.exp(F(x[i])) + abs(F(y[i]) * F(x[i])) + stirling_size(i))
        else:           # the log of a rounded sum x + eps: an absolute error of eps(float64)
            terms = mp_array(x.shape, lambda i: F(x[i]) - F(y[i]) * mp.log(F(x[i]) + F(eps)) + stirling(i))
            floors = mp_array(x.shape, lambda i: F(x[i]) + F(y[i]) * (abs(mp.log(F(x[i]) + F(eps))) + 1)
                              + stirling_size(i))
    ev = reference.evaluate("poisson_nll", {"input": x, "target": y},
                            {"log_input": log_input, "full": full, "eps": eps}, reduction, TORCH_POISSON)
    assert_round_off(ev, terms, floors, reduction)


def _declared(framework, loss):
    """The knobs an adapter declares for a loss (float64)."""
    import importlib
    module = importlib.import_module(f"adapters.{framework}.recipes.divergence")
    return dict(module.POLICIES[loss].knobs_for("float64"))


def test_poisson_nll_policy_departs_from_the_mathematics_where_documented():
    x, y = np.array([0.0, 1.0, 2.0]), np.array([2.0, 2.0, 0.5])
    params = {"log_input": False, "full": True, "eps": 1e-8}
    exact = reference.evaluate("poisson_nll", {"input": x, "target": y}, params, "none")
    torch = reference.evaluate("poisson_nll", {"input": x, "target": y}, params, "none", TORCH_POISSON)
    assert exact.value[0] == np.inf and exact.grads["input"][0][0] == -np.inf     # a count at rate 0
    assert math.isclose(torch.value[0], -2 * math.log(1e-8) + 2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi))
    assert math.isclose(torch.grads["input"][0][0], 1 - 2 / 1e-8)
    assert math.isclose(exact.value[1], 1.0 + math.log(2.0), rel_tol=1e-15)          # 1 - 2 log 1 + log 2!
    assert not math.isclose(torch.value[1], exact.value[1], rel_tol=1e-3)           # Stirling's 0.652 for 0.693
    assert math.isclose(torch.value[2] - (2 - 0.5 * math.log(2 + 1e-8)), 0.0, abs_tol=1e-15)   # y <= 1: no term
    assert TORCH_POISSON == _declared("torch", "poisson_nll")
    assert math.isclose(exact.value[2], 2 - 0.5 * math.log(2) + math.lgamma(1.5), rel_tol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input,full", [(True, False), (True, True), (False, False), (False, True)])
@pytest.mark.parametrize("policies", [None, TORCH_POISSON], ids=["exact", "torch"])
def test_poisson_nll_gradients_match_finite_differences(reduction, log_input, full, policies):
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, 6) if log_input else rng.uniform(0.2, 5.0, 6)
    y = np.array([0.0, 1.0, 2.0, 3.0, 7.0, 0.5])
    assert_gradient_matches_differences("poisson_nll", {"input": x, "target": y},
                                        {"log_input": log_input, "full": full, "eps": 1e-3}, reduction, ("input",),
                                        policies)


def test_poisson_nll_condition_of_the_counts_is_digamma_and_of_eps_only_under_the_policy():
    x, y = np.array([0.5, 2.0]), np.array([0.3, 4.0])
    params = {"log_input": False, "full": True, "eps": 0.25}
    ev = reference.evaluate("poisson_nll", {"input": x, "target": y}, params, "none")
    psi = [float(mp.digamma(F(v) + 1)) for v in y]
    want = [abs(float(ev.value[i])) + abs(1 - y[i] / x[i]) * x[i] + abs(psi[i] - math.log(x[i])) * y[i]
            for i in range(2)]
    np.testing.assert_allclose(ev.condition, want, rtol=1e-14)
    pol = reference.evaluate("poisson_nll", {"input": x, "target": y}, params, "none", {"rate_eps": True})
    z = x + 0.25
    want = [abs(float(pol.value[i])) + abs(1 - y[i] / z[i]) * x[i] + abs(psi[i] - math.log(z[i])) * y[i]
            + y[i] / z[i] * 0.25 for i in range(2)]
    np.testing.assert_allclose(pol.condition, want, rtol=1e-14)


def test_poisson_nll_log_rate_and_rate_agree_and_a_zero_count_at_rate_zero_costs_nothing():
    r, y = np.array([0.5, 2.0, 7.0]), np.array([0.0, 3.0, 4.0])
    a = reference.evaluate("poisson_nll", {"input": np.log(r), "target": y}, {}, "none")
    b = reference.evaluate("poisson_nll", {"input": r, "target": y}, {"log_input": False, "eps": 0.25}, "none")
    np.testing.assert_allclose(a.value, b.value, rtol=1e-14)                 # eps is not in the mathematics
    np.testing.assert_allclose(a.grads["input"][0], b.grads["input"][0] * r, rtol=1e-14)   # chain rule d r/d log r
    zero = reference.evaluate("poisson_nll", {"input": np.array([-np.inf]), "target": np.array([0.0])}, {}, "none")
    rate0 = reference.evaluate("poisson_nll", {"input": np.array([0.0, 0.0]), "target": np.array([0.0, 2.0])},
                               {"log_input": False}, "none")
    assert zero.value[0] == 0.0 and rate0.value.tolist() == [0.0, np.inf]
    assert rate0.grads["input"][0].tolist() == [1.0, -np.inf]


def test_poisson_nll_full_adds_the_log_factorial_of_every_count():
    y = np.array([0.0, 1.0, 1.5, 2.0, 3.0, 100.0, 1e-9])
    base = reference.evaluate("poisson_nll", {"input": np.zeros(7), "target": y}, {}, "none").value
    full = reference.evaluate("poisson_nll", {"input": np.zeros(7), "target": y}, {"full": True}, "none").value
    assert full[0] == base[0] and full[1] == base[1]                         # log 0! = log 1! = 0
    for i in range(2, 7):
        assert math.isclose(full[i] - base[i], float(_log_factorial(y[i])), rel_tol=1e-13, abs_tol=1e-16), y[i]
    stirling = reference.evaluate("poisson_nll", {"input": np.zeros(3), "target": y[:3]}, {"full": True}, "none",
                                  {"stirling": (-math.inf, 1.0)}).value
    assert stirling[0] == base[0] and stirling[1] == base[1]
    assert math.isclose(stirling[2] - base[2], 1.5 * math.log(1.5) - 1.5 + 0.5 * math.log(3 * math.pi), rel_tol=1e-14)


def test_poisson_nll_a_count_just_below_zero_has_a_real_log_factorial_and_each_stirling_mask_its_own_zeros():
    y = np.array([-5.960464477539063e-08, 0.0, 0.5, 1.0])
    arrays = {"input": np.zeros(4), "target": y}
    exact = reference.evaluate("poisson_nll", arrays, {"full": True}, "none").value
    with mp.workdps(DPS):
        assert abs(F(exact[0]) - (1 + mp.loggamma(1 + F(y[0])))) <= 1e-15     # exp(0) - y 0 + log Gamma(1 + y)
    torch = reference.evaluate("poisson_nll", arrays, {"full": True}, "none", {"stirling": (-math.inf, 1.0)}).value
    tf = reference.evaluate("poisson_nll", arrays, {"full": True}, "none", {"stirling": (0.0, 1.0)}).value
    assert torch.tolist() == [1.0, 1.0, 1.0, 1.0]          # torch: zeros for targets <= 1
    assert np.isnan(tf[0]) and tf[1:].tolist() == [1.0, 1.0, 1.0]   # TF: zeros for 0 <= targets <= 1, else y log y


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
#: torch's documented conventions, as the torch adapter declares them
TORCH_GAUSSIAN = {"var_clamp": True, "var_gradient": "straight_through"}


def _row_var(var, n, d):
    return var.reshape(n, 1) if var.shape != (n, d) else var


def _gaussian_case(data, n, d, var_shape, variances):
    x, y = _matrix(data, st.floats(-50, 50), n, d), _matrix(data, st.floats(-50, 50), n, d)
    shape = VAR_SHAPES[var_shape](n, d)
    var = np.array(data.draw(st.lists(variances, min_size=int(np.prod(shape)),
                                      max_size=int(np.prod(shape))))).reshape(shape)
    return x, y, var, _row_var(var, n, d)                  # one variance per row, by torch's rule


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(sorted(VAR_SHAPES)), st.booleans())
def test_gaussian_nll_matches_mpmath(data, reduction, var_shape, full):
    """The mathematics: 0.5 (log v + (x - y)^2 / v) [+ 0.5 log 2 pi], no clamp at eps."""
    n, d = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x, y, var, v = _gaussian_case(data, n, d, var_shape,
                                  st.sampled_from([1e-7, 1e-300, 1.0]) | st.floats(1e-300, 10))
    eps = data.draw(st.sampled_from([1e-6, 0.5]))              # torch's parameter: no effect on the mathematics
    with mp.workdps(DPS):
        def vi(i):
            return F(v[i[0], i[1] if v.shape[1] == d else 0])

        def term(i):
            return (mp.log(vi(i)) + (F(x[i]) - F(y[i])) ** 2 / vi(i)) / 2 + (mp.log(2 * mp.pi) / 2 if full else 0)

        def size(i):
            return (abs(mp.log(vi(i))) + (F(x[i]) - F(y[i])) ** 2 / vi(i)) / 2 + (mp.log(2 * mp.pi) / 2 if full else 0)
        terms = mp_array(x.shape, term)
        floors = mp_array(x.shape, size)
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"full": full, "eps": eps},
                            reduction)
    assert_round_off(ev, terms, floors, reduction)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(sorted(VAR_SHAPES)), st.booleans())
def test_gaussian_nll_torch_policy_is_the_documented_formula(data, reduction, var_shape, full):
    """With torch's knobs the oracle computes the torch.nn.GaussianNLLLoss docs' formula,
    written here from their text: 0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps))
    [+ 0.5 log(2 pi)]; the gradient in var, the clamp being 'ignored with respect to
    autograd', is the formula's derivative in max(var, eps): 0.5 (1/m - (input - target)^2 / m^2)."""
    n, d = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x, y, var, v = _gaussian_case(data, n, d, var_shape, st.sampled_from([0.0, 1e-7]) | st.floats(0, 10))
    eps = data.draw(st.sampled_from([1e-6, 0.5, 2.0 ** -20]))
    with mp.workdps(DPS):
        def m(i):
            return max(F(v[i[0], i[1] if v.shape[1] == d else 0]), F(eps))

        def term(i):
            return (mp.log(m(i)) + (F(x[i]) - F(y[i])) ** 2 / m(i)) / 2 + (mp.log(2 * mp.pi) / 2 if full else 0)

        def size(i):
            return (abs(mp.log(m(i))) + (F(x[i]) - F(y[i])) ** 2 / m(i)) / 2 + (mp.log(2 * mp.pi) / 2 if full else 0)
        terms, floors = mp_array(x.shape, term), mp_array(x.shape, size)
        dvar = mp_array(x.shape, lambda i: (1 / m(i) - (F(x[i]) - F(y[i])) ** 2 / m(i) ** 2) / 2)
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"full": full, "eps": eps},
                            reduction, TORCH_GAUSSIAN)
    assert_round_off(ev, terms, floors, reduction)
    if reduction == "sum" and var_shape == "same":
        got = ev.grads["var"][0]
        for i in np.ndindex(x.shape):
            assert abs(F(got[i]) - dvar[i]) <= 1e-13 * (abs(dvar[i]) + 1 / m(i)), (i, got[i], dvar[i])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", sorted(VAR_SHAPES))
def test_gaussian_nll_gradients_match_finite_differences(reduction, var_shape):
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-3, 3, (3, 4)), rng.uniform(-3, 3, (3, 4))
    var = rng.uniform(0.02, 3.0, VAR_SHAPES[var_shape](3, 4))          # some below eps = 0.1: no clamp
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


def test_gaussian_nll_variance_below_eps_is_not_clamped_by_the_mathematics():
    x, y, var = np.array([1.0, 2.0]), np.zeros(2), np.array([1e-3, 0.25])
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"eps": 0.5}, "none")
    np.testing.assert_allclose(ev.value, 0.5 * (np.log(var) + x ** 2 / var), rtol=1e-15)
    np.testing.assert_allclose(ev.grads["var"][0], 0.5 * (1 / var - x ** 2 / var ** 2), rtol=1e-15)


def test_gaussian_nll_at_zero_variance_gives_the_limits_as_the_variance_falls_to_zero():
    x, y, var = np.array([1.0, 0.0, -2.0]), np.array([0.0, 0.0, 0.0]), np.zeros(3)
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"full": True}, "none")
    assert ev.value.tolist() == [np.inf, -np.inf, np.inf]             # (x - y)^2 / v dominates; only log v is left
    assert ev.grads["input"][0].tolist() == [np.inf, 0.0, -np.inf]
    assert ev.grads["target"][0].tolist() == [-np.inf, 0.0, np.inf]
    assert ev.grads["var"][0].tolist() == [-np.inf, np.inf, -np.inf]
    for v in (1e-30, 1e-100):                                         # the limits, approached
        near = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": np.full(3, v)}, {}, "none")
        assert near.value[0] > 1e29 and near.value[1] < -34 and near.grads["var"][0][1] > 1e29
    assert TORCH_GAUSSIAN == _declared("torch", "gaussian_nll") == _declared("torch", "gaussian_nll_homoscedastic")
    clamped = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"eps": 0.25}, "none",
                                 TORCH_GAUSSIAN)
    np.testing.assert_allclose(clamped.value, 0.5 * (np.log(0.25) + x ** 2 / 0.25), rtol=1e-15)   # torch: finite


def test_gaussian_nll_clamp_knob_clamps_with_zero_gradient_below_eps_and_a_segment_at_eps():
    x, y, var = np.array([1.0, 2.0, 1.0]), np.zeros(3), np.array([0.0, 0.25, 2.0])
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"eps": 0.25}, "none",
                            {"var_clamp": True})
    assert math.isclose(ev.value[0], 0.5 * (math.log(0.25) + 4.0))
    lo, hi = ev.grads["var"]
    at_eps = 0.5 * (1 - 16.0) / 0.25                               # d/dv at v = eps: negative
    assert (lo[0], hi[0]) == (0.0, 0.0) and (lo[1], hi[1]) == (at_eps, 0.0)
    assert lo[2] == hi[2] == 0.5 * (1 - 0.5) / 2.0


def test_gaussian_nll_torch_straight_through_knob_is_the_unclamped_derivative_at_eps():
    x, y, var = np.array([1.0, 2.0]), np.zeros(2), np.array([1e-8, 3.0])
    ev = reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {"eps": 0.5}, "sum",
                            TORCH_GAUSSIAN)
    g = ev.grads["var"][0]
    assert math.isclose(g[0], 0.5 * (1 / 0.5 - 1.0 / 0.25), rel_tol=1e-15)     # not 0: torch's documented note
    assert math.isclose(g[1], 0.5 * (1 / 3.0 - 4.0 / 9.0), rel_tol=1e-15)
    with pytest.raises(ValueError):
        reference.evaluate("gaussian_nll", {"input": x, "target": y, "var": var}, {}, "sum", {"var_gradient": "x"})


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


@pytest.mark.parametrize("policies", [None, TORCH_GAUSSIAN], ids=["exact", "torch"])
def test_gaussian_nll_nan_propagates_with_and_without_the_clamp(policies):
    ev = reference.evaluate("gaussian_nll", {"input": np.array([0.0, 1.0]), "target": np.zeros(2),
                                             "var": np.array([np.nan, 1.0])}, {}, "none", policies)
    assert np.isnan(ev.value[0]) and np.isnan(ev.grads["var"][0][0]) and np.isnan(ev.grads["input"][0][0])
    assert ev.value[1] == 0.5
