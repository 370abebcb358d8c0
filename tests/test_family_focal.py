"""The focal family's oracle: values against mpmath (the Lin et al. / Keras / optax
formulas written out independently), gradients against finite differences,
identities (gamma = 0 is cross-entropy, epsilon = 0 is cross-entropy), accuracy at
huge logits, the Keras policies, refusals."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, magnitude, mp_array

REDUCTIONS = ("none", "sum", "mean")


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def _binary_term(x, y, gamma, alpha, ls, from_logits):
    """-w (1 - p_t)^gamma [y log p + (1 - y) log(1 - p)], Keras's smoothing y(1 - ls) + ls/2."""
    y = y * (1 - ls) + ls / 2
    if from_logits:   # log sigma(x) = -log1p(e^-x); 1 - sigma(x) = sigma(-x): no cancellation at any size
        p, q = _sigmoid(x), _sigmoid(-x)
        log_p, log_q = -mp.log1p(mp.exp(-x)), -mp.log1p(mp.exp(x))
    else:
        p, q = x, 1 - x
        log_p = mp.log(p) if p > 0 else mp.ninf
        log_q = mp.log1p(-p) if p < 1 else mp.ninf      # not log(1 - p): 1 - 2.3e-109 rounds to 1 at DPS digits
    ce = -((y * log_p if y else 0) + ((1 - y) * log_q if 1 - y else 0))
    one_minus_pt = y * q + (1 - y) * p
    factor = one_minus_pt ** gamma if gamma else mp.mpf(1)
    w = 1 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return w * factor * ce if factor else mp.mpf(0)


binary_params = st.fixed_dictionaries({
    "gamma": st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 3.5]),
    "alpha": st.none() | st.floats(0, 1),
    "label_smoothing": st.sampled_from([0.0, 0.1, 1.0]),
})


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), binary_params, st.booleans())
def test_binary_focal_matches_mpmath(data, reduction, params, from_logits):
    n = data.draw(st.integers(0, 5))
    xs = st.floats(-800, 800) if from_logits else st.floats(0, 1)
    x = np.array(data.draw(st.lists(xs, min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]) | st.floats(0, 1), min_size=n, max_size=n)))
    if not from_logits:   # probabilities 0 or 1 against a different (smoothed) label: an infinite loss
        ys = y * (1 - params["label_smoothing"]) + params["label_smoothing"] / 2
        x = np.where(((x == 0) & (ys > 0)) | ((x == 1) & (ys < 1)), 0.5, x)
    params = {**{k: v for k, v in params.items() if v is not None}, "from_logits": from_logits}
    ev = reference.evaluate("binary_focal", {"input": x, "target": y}, params, reduction)
    with mp.workdps(DPS):
        terms = mp_array(x.shape, lambda i: _binary_term(F(x[i]), F(y[i]), F(params["gamma"]),
                                                          None if "alpha" not in params else F(params["alpha"]),
                                                          F(params["label_smoothing"]), from_logits))
    assert_round_off(ev, terms, magnitude(terms), reduction)


def test_binary_focal_is_accurate_where_one_minus_pt_underflows():
    """x = 40, y = 1: sigma(40) rounds to 1, but the loss e^{-40 (gamma + 1)} is a normal number."""
    x, y = np.array([40.0, 200.0, -200.0]), np.array([1.0, 1.0, 0.0])
    ev = reference.evaluate("binary_focal", {"input": x, "target": y}, {"gamma": 2.0}, "none")
    with mp.workdps(DPS):
        want = [_binary_term(F(a), F(b), 2, None, 0, True) for a, b in zip(x, y)]
    for got, exact_value in zip(ev.value, want):
        assert abs(F(got) - exact_value) <= 4 * 2.0 ** -52 * exact_value
    g = ev.grads["input"][0]
    with mp.workdps(DPS):       # d/dx e^{-2 sp(x)} sp(-x) at x = 40: -(2 + 1) e^{-120} (1 + O(e^-40))
        want_g = mp.diff(lambda t: _binary_term(t, mp.mpf(1), 2, None, 0, True), mp.mpf(40))
    assert abs(F(g[0]) - want_g) <= 1e-12 * abs(want_g)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("from_logits", [True, False])
def test_binary_focal_gamma_zero_is_bce_and_no_nan_at_saturation(gamma, from_logits):
    x = np.array([60.0, -3.0, 0.25]) if from_logits else np.array([1.0, 0.2, 0.75])
    y = np.array([1.0, 0.0, 0.6])
    ev = reference.evaluate("binary_focal", {"input": x, "target": y}, {"gamma": gamma, "from_logits": from_logits}, "none")
    assert np.all(np.isfinite(ev.value)) and np.all(np.isfinite(ev.grads["input"][0]))
    if gamma == 0.0:
        bce = reference.evaluate("bce_with_logits" if from_logits else "bce", {"input": x, "target": y}, {}, "none")
        np.testing.assert_allclose(ev.value, bce.value, rtol=1e-15)
        np.testing.assert_allclose(ev.grads["input"][0], bce.grads["input"][0], rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("params", [{"gamma": 2.0}, {"gamma": 0.5, "alpha": 0.25}, {"gamma": 1.0, "label_smoothing": 0.2},
                                    {"gamma": 0.0, "alpha": 0.8}, {"gamma": 3.0, "from_logits": False}])
def test_binary_focal_gradients_match_finite_differences(reduction, params):
    rng = np.random.default_rng(1)
    logits = params.get("from_logits", True)
    x = rng.uniform(-6, 6, (3, 4)) if logits else rng.uniform(0.05, 0.95, (3, 4))
    y = np.where(rng.random((3, 4)) < 0.5, rng.integers(0, 2, (3, 4)), rng.uniform(0, 1, (3, 4))).astype(float)
    assert_gradient_matches_differences("binary_focal", {"input": x, "target": y}, params, reduction, ("input",))


def test_binary_focal_keras_clip_touches_the_cross_entropy_only():
    """Keras: bce of clip(p, 1e-7, 1 - 1e-7), focal factor of p itself."""
    x, y = np.array([1.0, 0.0, 0.5]), np.array([0.0, 0.0, 1.0])
    ev = reference.evaluate("binary_focal", {"input": x, "target": y}, {"gamma": 2.0, "from_logits": False},
                            "none", {"prob_clip": 1e-7})
    assert ev.value[0] == pytest.approx(-np.log(1e-7), rel=1e-9)   # factor (1 - 0)^... = 1: p = 1, y = 0
    assert ev.value[1] == 0.0                                       # factor 0^2 = 0
    assert ev.grads["input"][0][0] == pytest.approx(2 * -np.log(1e-7), rel=1e-9)   # only the factor moves
    assert np.isinf(reference.evaluate("binary_focal", {"input": x, "target": y},
                                       {"gamma": 2.0, "from_logits": False}, "none").value[0])


def test_binary_focal_refusals():
    ok = {"input": np.zeros(2), "target": np.zeros(2)}
    for arrays, params in [({"input": np.zeros(3), "target": np.zeros(1)}, {}),
                           ({"input": np.zeros(2), "target": np.array([0.0, 1.5])}, {}),
                           ({"input": np.array([0.5, 1.2]), "target": np.zeros(2)}, {"from_logits": False}),
                           (ok, {"gamma": -1.0}), (ok, {"alpha": 1.5}), (ok, {"label_smoothing": 2.0})]:
        with pytest.raises(reference.DomainError):
            reference.evaluate("binary_focal", arrays, params, "mean")


def test_nan_propagates_to_value_and_gradient():
    for loss, x, y in [("binary_focal", np.array([np.nan, 1.0]), np.array([1.0, 0.0])),
                       ("categorical_focal", np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])),
                       ("poly1_cross_entropy", np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))]:
        ev = reference.evaluate(loss, {"input": x, "target": y}, {}, "none")
        assert np.isnan(ev.value[0]) and not np.isnan(ev.value[1])
        assert np.isnan(ev.grads["input"][0][0]).all() and np.isfinite(ev.grads["input"][0][1]).all()


# -- categorical focal and poly-1 ------------------------------------------------
def _softmax(row):
    m = max(row)
    e = [mp.exp(v - m) for v in row]
    s = mp.fsum(e)
    return [v / s for v in e], [mp.fsum(e[:j] + e[j + 1:]) / s for j in range(len(e))]


def _categorical_row(x, y, gamma, a, ls, from_logits):
    """-sum_c a_c q_c (1 - p_c)^gamma log p_c with q = (1 - ls) y + ls / C."""
    c = len(x)
    p, one_minus = _softmax(x) if from_logits else (x, [1 - v for v in x])
    out = []
    for j in range(c):
        q = (1 - ls) * y[j] + ls / c
        if q == 0:
            continue
        factor = one_minus[j] ** gamma if gamma else mp.mpf(1)
        out.append(-a[j] * q * factor * mp.log(p[j]))
    return mp.fsum(out)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from([0.0, 0.3, 1.0, 2.0, 4.0]),
       st.sampled_from([None, 0.25, "weight"]), st.sampled_from([0.0, 0.1]), st.booleans(), st.booleans())
def test_categorical_focal_matches_mpmath(data, reduction, gamma, alpha, ls, from_logits, batched):
    n, c = data.draw(st.integers(0, 4)) if batched else 1, data.draw(st.integers(2, 5))
    mag = data.draw(st.sampled_from([3.0, 60.0, 800.0]))
    x = np.array(data.draw(st.lists(st.lists(st.floats(-mag, mag), min_size=c, max_size=c), min_size=n, max_size=n)))
    x = x.reshape(n, c)
    y = np.array(data.draw(st.lists(st.lists(st.floats(0.01, 1), min_size=c, max_size=c), min_size=n, max_size=n))).reshape(n, c)
    y = y / y.sum(axis=1, keepdims=True) if y.size else y
    if not from_logits:
        x = np.exp(x / mag) / np.exp(x / mag).sum(axis=1, keepdims=True) if x.size else x
    if not batched:
        x, y = x[0], y[0]
    weight = np.linspace(0.5, 2.0, c)
    params = {"gamma": gamma, "label_smoothing": ls, "from_logits": from_logits}
    arrays = {"input": x, "target": y}
    if alpha == "weight":
        arrays["weight"] = weight
    elif alpha is not None:
        params["alpha"] = alpha
    a = weight if alpha == "weight" else np.full(c, 1.0 if alpha is None else alpha)
    ev = reference.evaluate("categorical_focal", arrays, params, reduction)
    xr, yr = x.reshape(-1, c), y.reshape(-1, c)
    with mp.workdps(DPS):
        terms = mp_array(x.shape[:-1], lambda i: _categorical_row(
            [F(v) for v in xr[i[0] if i else 0]], [F(v) for v in yr[i[0] if i else 0]], F(gamma),
            [F(v) for v in a], F(ls), from_logits))
        floors = mp_array(x.shape[:-1], lambda i: mp.fsum(abs(F(v)) for v in xr[i[0] if i else 0]) + 1)
    assert_round_off(ev, terms, floors, reduction)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.floats(-1, 4))
def test_poly1_matches_mpmath(data, reduction, epsilon):
    n, c = data.draw(st.integers(0, 4)), data.draw(st.integers(2, 5))
    mag = data.draw(st.sampled_from([3.0, 60.0, 800.0]))
    x = np.array(data.draw(st.lists(st.floats(-mag, mag), min_size=n * c, max_size=n * c))).reshape(n, c)
    y = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n * c, max_size=n * c))).reshape(n, c)
    ev = reference.evaluate("poly1_cross_entropy", {"input": x, "target": y}, {"epsilon": epsilon}, reduction)

    def row(i):
        p, one_minus = _softmax([F(v) for v in x[i[0]]])
        return mp.fsum(-F(y[i[0], j]) * mp.log(p[j]) + F(epsilon) * F(y[i[0], j]) * one_minus[j]
                       for j in range(c) if y[i[0], j])
    with mp.workdps(DPS):
        terms = mp_array((n,), row)
        floors = mp_array((n,), lambda i: mp.fsum(abs(F(v)) for v in x[i[0]]) + 1)
    assert_round_off(ev, terms, floors, reduction)


def test_poly1_with_epsilon_zero_is_cross_entropy_and_one_hot_adds_one_minus_pt():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 3)) * 5
    y = rng.dirichlet(np.ones(3), 4)
    poly = reference.evaluate("poly1_cross_entropy", {"input": x, "target": y}, {"epsilon": 0.0}, "none")
    ce = reference.evaluate("cross_entropy", {"input": x, "target": y}, {}, "none")
    np.testing.assert_allclose(poly.value, ce.value, rtol=1e-14)
    onehot = np.eye(3)[[0, 2, 1, 1]]
    poly = reference.evaluate("poly1_cross_entropy", {"input": x, "target": onehot}, {"epsilon": 1.5}, "none")
    ce = reference.evaluate("cross_entropy", {"input": x, "target": onehot}, {}, "none")
    p_t = np.exp(x - x.max(1, keepdims=True))[np.arange(4), [0, 2, 1, 1]] / np.exp(x - x.max(1, keepdims=True)).sum(1)
    np.testing.assert_allclose(poly.value, ce.value + 1.5 * (1 - p_t), rtol=1e-13, atol=1e-15)


def test_categorical_focal_gamma_zero_is_weighted_cross_entropy():
    rng = np.random.default_rng(4)
    x, y, w = rng.normal(size=(5, 4)) * 4, rng.dirichlet(np.ones(4), 5), rng.uniform(0.5, 2, 4)
    cf = reference.evaluate("categorical_focal", {"input": x, "target": y, "weight": w},
                            {"gamma": 0.0, "label_smoothing": 0.1}, "sum")
    ce = reference.evaluate("cross_entropy", {"input": x, "target": y, "weight": w}, {"label_smoothing": 0.1}, "sum")
    np.testing.assert_allclose(cf.value, ce.value, rtol=1e-14)
    np.testing.assert_allclose(cf.grads["input"][0], ce.grads["input"][0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cf.grads["target"][0], ce.grads["target"][0], rtol=1e-12, atol=1e-15)


CATEGORICAL_PARAMS = [{"gamma": 2.0}, {"gamma": 0.5, "alpha": 0.25}, {"gamma": 1.0, "label_smoothing": 0.2},
                      {"gamma": 3.0, "from_logits": False}, {"gamma": 0.7, "from_logits": False}]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("params", CATEGORICAL_PARAMS)
def test_categorical_focal_gradients_match_finite_differences(reduction, params):
    rng = np.random.default_rng(2)
    logits = params.get("from_logits", True)
    x = rng.uniform(-4, 4, (3, 4)) if logits else rng.dirichlet(np.ones(4), 3)
    y = rng.dirichlet(np.ones(4), 3)
    assert_gradient_matches_differences("categorical_focal", {"input": x, "target": y}, params, reduction,
                                        ("input", "target"))


@pytest.mark.parametrize("clip", [(1e-7, 1 - 1e-7), (0.05, 0.9)])
@pytest.mark.parametrize("from_logits", [True, False])
def test_categorical_focal_keras_policy_gradients(clip, from_logits):
    """normalize + clip (Keras), away from the clip's edges: finite differences agree."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-3, 3, (3, 4)) if from_logits else rng.uniform(0.1, 0.9, (3, 4))
    y = rng.dirichlet(np.ones(4), 3)
    assert_gradient_matches_differences("categorical_focal", {"input": x, "target": y},
                                        {"gamma": 2.0, "from_logits": from_logits}, "sum", ("input", "target"),
                                        {"prob_clip": clip, "normalize": True})


def test_categorical_focal_is_accurate_for_a_dominant_class():
    """1 - p_0 = 2e-40 is lost to 1 - p in any dtype; the oracle keeps it (value and gradient)."""
    x, y = np.array([[92.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0]])
    ev = reference.evaluate("categorical_focal", {"input": x, "target": y}, {"gamma": 2.0}, "none")
    with mp.workdps(200):     # 1 + 2e-40 must be held exactly
        want = _categorical_row([mp.mpf(92), 0, 0], [1, 0, 0], 2, [1, 1, 1], 0, True)
        want_g = mp.diff(lambda t: _categorical_row([t, 0, 0], [1, 0, 0], 2, [1, 1, 1], 0, True), mp.mpf(92))
    assert abs(F(ev.value[0]) - want) <= 8 * 2.0 ** -52 * want
    assert abs(F(ev.grads["input"][0][0, 0]) - want_g) <= 1e-10 * abs(want_g)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("epsilon", [2.0, -1.0])
def test_poly1_gradients_match_finite_differences(reduction, epsilon):
    rng = np.random.default_rng(6)
    x, y = rng.uniform(-4, 4, (3, 5)), rng.dirichlet(np.ones(5), 3)
    assert_gradient_matches_differences("poly1_cross_entropy", {"input": x, "target": y}, {"epsilon": epsilon},
                                        reduction, ("input", "target"))


def test_softmax_refusals():
    two = np.zeros((2, 3))
    cases = [("categorical_focal", {"input": two, "target": np.zeros((2, 2))}, {}),
             ("categorical_focal", {"input": two, "target": two + 1.5}, {}),
             ("categorical_focal", {"input": two, "target": two, "weight": np.ones(2)}, {}),
             ("categorical_focal", {"input": two, "target": two, "weight": np.ones(3)}, {"alpha": 0.5}),
             ("categorical_focal", {"input": two - 0.5, "target": two}, {"from_logits": False}),
             ("categorical_focal", {"input": np.zeros((2, 3, 4)), "target": np.zeros((2, 3, 4))}, {}),
             ("poly1_cross_entropy", {"input": two, "target": np.zeros(3)}, {}),
             ("poly1_cross_entropy", {"input": two, "target": two - 1.0}, {})]
    for loss, arrays, params in cases:
        with pytest.raises(reference.DomainError):
            reference.evaluate(loss, arrays, params, "mean")


def test_categorical_focal_clipped_probability_scale_ignores_the_logit():
    """Keras's clip makes a -inf logit's probability the constant 1e-7: the target
    gradient -a (1 - o)^gamma log o = 16.1 is then rounded like log(1e-7), not like the
    (infinite) logit; an infinite scale is judged as 0, an exact answer demanded."""
    x = np.array([[-np.inf, -3.01558416, -4.59797001]])
    y = np.array([[0.57925064, 0.24781214, 0.17293722]])
    ev = reference.evaluate("categorical_focal", {"input": x, "target": y},
                            {"gamma": 2.0, "prob_clip": (1e-7, 1 - 1e-7), "normalize": True,
                             "clip_margin": 8 * 2.0 ** -23}, "none")
    scale = ev.grad_scales["target"]
    assert np.all(np.isfinite(scale)) and np.all(scale > 0), scale
    assert np.isfinite(ev.scale).all() and scale[0, 0] < 100, (scale, ev.scale)
