"""The embedding family's oracle: values against mpmath (formulas written from the
torch.nn / Keras / optax docs), gradients against finite differences, subgradients
at the corners (hinge, norm at 0, swap ties), zero vectors, the policy knobs,
refusals, and identities between the losses."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")
TRIPLET = ("anchor", "positive", "negative")


def _vectors(data, n, d, label, low=-100.0, high=100.0):
    values = st.floats(low, high, allow_nan=False)
    return np.array(data.draw(st.lists(st.lists(values, min_size=d, max_size=d), min_size=n, max_size=n),
                              label=label)).reshape(n, d)


def _mp_norm(v, p=2):
    p = mp.mpf(p)
    return mp.fsum(abs(x) ** p for x in v) ** (1 / p)


def _mp_cos(x, y):
    x, y = [F(a) for a in x], [F(b) for b in y]
    return mp.fsum(a * b for a, b in zip(x, y)) / (_mp_norm(x) * _mp_norm(y))


def _mp_cos_floor(x, y):
    """The magnitude the cosine adds up: sum |x_i y_i| / (|x| |y|) (at most 1)."""
    x, y = [F(a) for a in x], [F(b) for b in y]
    return mp.fsum(abs(a * b) for a, b in zip(x, y)) / (_mp_norm(x) * _mp_norm(y))


def _nonzero_rows(*arrays):
    return all(np.all(np.abs(a).max(axis=-1) > 1e-3) for a in arrays)


# -- values against mpmath ----------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS))
def test_cosine_embedding_matches_mpmath(data, reduction):
    n, d = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    x1, x2 = _vectors(data, n, d, "x1"), _vectors(data, n, d, "x2")
    assume(_nonzero_rows(x1, x2))
    y = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))
    margin = data.draw(st.floats(-1, 1))
    ev = reference.evaluate("cosine_embedding", {"input1": x1, "input2": x2, "target": y}, {"margin": margin}, reduction)
    with mp.workdps(DPS):
        def term(i):
            c = _mp_cos(x1[i], x2[i])
            return 1 - c if y[i] == 1 else max(mp.mpf(0), c - F(margin))
        terms = mp_array((n,), lambda i: term(i[0]))
        floors = mp_array((n,), lambda i: 1 + _mp_cos_floor(x1[i[0]], x2[i[0]]) + abs(F(margin)))
    assert_round_off(ev, terms, floors, reduction)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(["negative", "distance"]))
def test_cosine_similarity_matches_mpmath(data, reduction, form):
    n, d = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    x, y = _vectors(data, n, d, "x", -1e20, 1e20), _vectors(data, n, d, "y", -1e20, 1e20)
    assume(_nonzero_rows(x, y))
    ev = reference.evaluate("cosine_similarity", {"input": x, "target": y}, {"form": form}, reduction)
    offset = 1 if form == "distance" else 0
    with mp.workdps(DPS):
        terms = mp_array((n,), lambda i: offset - _mp_cos(x[i[0]], y[i[0]]))
        floors = mp_array((n,), lambda i: offset + _mp_cos_floor(x[i[0]], y[i[0]]))
    assert_round_off(ev, terms, floors, reduction)


def _mp_triplet(a, p, n, dist, margin, swap):
    dn = dist(a, n)
    if swap:
        dn = min(dn, dist(p, n))
    return max(dist(a, p) - dn + F(margin), mp.mpf(0))


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.booleans())
def test_triplet_margin_matches_mpmath(data, reduction, p, swap):
    n, d = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    a, pos, neg = (_vectors(data, n, d, name, -1e3, 1e3) for name in TRIPLET)
    margin = data.draw(st.floats(0, 2))
    ev = reference.evaluate("triplet_margin", {"anchor": a, "positive": pos, "negative": neg},
                            {"margin": margin, "p": p, "swap": swap}, reduction)
    with mp.workdps(DPS):
        def dist(x, y):
            return _mp_norm([F(u) - F(v) for u, v in zip(x, y)], p)
        terms = mp_array((n,), lambda i: _mp_triplet(a[i[0]], pos[i[0]], neg[i[0]], dist, margin, swap))
        floors = mp_array((n,), lambda i: dist(a[i[0]], pos[i[0]]) + dist(a[i[0]], neg[i[0]])
                          + dist(pos[i[0]], neg[i[0]]) + abs(F(margin)))
    assert_round_off(ev, terms, floors, reduction)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(["pairwise", "cosine"]), st.booleans())
def test_triplet_margin_with_distance_matches_mpmath(data, reduction, distance, swap):
    n, d = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    a, pos, neg = (_vectors(data, n, d, name) for name in TRIPLET)
    assume(distance == "pairwise" or _nonzero_rows(a, pos, neg))
    margin = data.draw(st.floats(0, 2))
    ev = reference.evaluate("triplet_margin_with_distance", {"anchor": a, "positive": pos, "negative": neg},
                            {"margin": margin, "distance": distance, "swap": swap}, reduction)
    with mp.workdps(DPS):
        def dist(x, y):
            if distance == "cosine":
                return 1 - _mp_cos(x, y)
            return _mp_norm([F(u) - F(v) for u, v in zip(x, y)])
        terms = mp_array((n,), lambda i: _mp_triplet(a[i[0]], pos[i[0]], neg[i[0]], dist, margin, swap))
        floors = mp_array((n,), lambda i: 3 * (dist(a[i[0]], pos[i[0]]) + dist(a[i[0]], neg[i[0]])
                                               + dist(pos[i[0]], neg[i[0]])) + abs(F(margin)) + 6)
    assert_round_off(ev, terms, floors, reduction)


def _mp_ntxent(e, labels, t):
    """The mean over positive pairs of -log(exp(s_ij/t) / (exp(s_ij/t) + sum_neg exp(s_ik/t)))."""
    n = len(labels)
    s = [[_mp_cos(e[i], e[k]) / F(t) for k in range(n)] for i in range(n)]
    terms = []
    for i in range(n):
        negatives = [mp.exp(s[i][k]) for k in range(n) if labels[k] != labels[i]]
        for j in range(n):
            if j != i and labels[j] == labels[i]:
                terms.append(-mp.log(mp.exp(s[i][j]) / (mp.exp(s[i][j]) + mp.fsum(negatives))))
    return terms


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_ntxent_matches_mpmath(data):
    n, d = data.draw(st.integers(2, 6)), data.draw(st.integers(1, 3))
    e = _vectors(data, n, d, "embeddings", -10, 10)
    assume(_nonzero_rows(e))
    labels = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    t = data.draw(st.floats(0.05, 2.0))
    ev = reference.evaluate("ntxent", {"embeddings": e, "labels": labels}, {"temperature": t}, "mean")
    with mp.workdps(DPS):
        terms = _mp_ntxent(e, labels, t)
        if not terms:
            assert np.isnan(ev.value)
            return
        pairs = mp_array((len(terms),), lambda i: terms[i[0]])
        floors = mp_array((len(terms),), lambda i: abs(terms[i[0]]) + 4 / F(t))
    assert_round_off(ev, pairs, floors, "mean")


# -- gradients against finite differences ---------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    y = np.array([-1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    cos = np.sum(x1 * x2, 1) / np.linalg.norm(x1, axis=1) / np.linalg.norm(x2, axis=1)
    margin = 0.0
    assert np.any((y == -1) & (cos < margin)) and np.any((y == -1) & (cos > margin))
    assert np.all(np.abs(cos - margin) > 0.05)          # off the corner
    for knobs in (None, {"sq_eps": 0.25}):
        assert_gradient_matches_differences("cosine_embedding", {"input1": x1, "input2": x2, "target": y},
                                            {"margin": margin}, reduction, ("input1", "input2"), knobs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("form", ["negative", "distance"])
def test_cosine_similarity_gradients_match_finite_differences(reduction, form):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    x[0] *= 0.2 / np.linalg.norm(x[0])                   # below the knob's floor 0.5: x / floor
    for knobs in (None, {"norm_floor": 0.5}):
        assert_gradient_matches_differences("cosine_similarity", {"input": x, "target": y}, {"form": form},
                                            reduction, ("input", "target"), knobs)


def _triplets(rng, n=6, d=3):
    """Points whose differences stay away from 0 (|v_i| > 0.2: p = 1 and p = 1.5 are smooth there)."""
    a = rng.normal(size=(n, d))
    def away(b):
        return b + np.sign(b - a) * 0.2
    return a, away(rng.normal(size=(n, d))), away(rng.normal(size=(n, d)))


def _pdist(x, y, p):
    return np.sum(np.abs(x - y) ** p, axis=-1) ** (1 / p)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_gradients_match_finite_differences(reduction, p, swap):
    a, pos, neg = _triplets(np.random.default_rng(int(p * 10) + swap))
    dn = np.minimum(_pdist(a, neg, p), _pdist(pos, neg, p)) if swap else _pdist(a, neg, p)
    assert not swap or np.all(np.abs(_pdist(a, neg, p) - _pdist(pos, neg, p)) > 1e-2)   # no swap tie
    z = np.sort(_pdist(a, pos, p) - dn)
    # a margin between two of the sorted z: some rows active, some not, none near the corner
    margin = max((-(lo + hi) / 2 for lo, hi in zip(z[:-1], z[1:])), key=lambda m: np.min(np.abs(z + m)))
    assert np.min(np.abs(z + margin)) > 0.02 and np.any(z + margin > 0) and np.any(z + margin < 0)
    arrays = {"anchor": a, "positive": pos, "negative": neg}
    for knobs in (None, {"shift": 0.001}, {"power_eps": 0.001}):
        assert_gradient_matches_differences("triplet_margin", arrays, {"margin": margin, "p": p, "swap": swap},
                                            reduction, TRIPLET, knobs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("distance", ["pairwise", "cosine"])
def test_triplet_margin_with_distance_gradients_match_finite_differences(reduction, distance):
    a, pos, neg = _triplets(np.random.default_rng(7))
    arrays = {"anchor": a, "positive": pos, "negative": neg}
    for swap in (False, True):
        assert_gradient_matches_differences("triplet_margin_with_distance", arrays,
                                            {"distance": distance, "margin": 1.5, "swap": swap},
                                            reduction, TRIPLET, {"shift": 0.01, "norm_floor": 0.1})
        assert_gradient_matches_differences("triplet_margin_with_distance", arrays,
                                            {"distance": distance, "margin": 1.5, "swap": swap}, reduction, TRIPLET)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_ntxent_gradients_match_finite_differences(temperature):
    e = np.random.default_rng(3).normal(size=(6, 3))
    labels = np.array([0, 1, 0, 1, 2, 0])
    assert_gradient_matches_differences("ntxent", {"embeddings": e, "labels": labels},
                                        {"temperature": temperature}, "mean", ("embeddings",))
    e[0] *= 1e-3
    assert_gradient_matches_differences("ntxent", {"embeddings": e, "labels": labels},
                                        {"temperature": temperature}, "mean", ("embeddings",), {"norm_floor": 0.1})


# -- corners: the whole subdifferential ------------------------------------------------
def test_cosine_embedding_corner_has_the_segment_between_zero_and_the_gradient():
    x1, x2 = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])      # cos = 0 = margin, y = -1
    ev = reference.evaluate("cosine_embedding", {"input1": x1, "input2": x2, "target": np.array([-1.0])},
                            {"margin": 0.0}, "sum")
    lo, hi = ev.grads["input1"]
    # d cos / d x1 = (y_hat - cos x1_hat) / |x1| = (0, 1)
    np.testing.assert_array_equal(lo, [[0.0, 0.0]])
    np.testing.assert_array_equal(hi, [[0.0, 1.0]])
    assert ev.value == 0.0


def test_triplet_norm_corner_at_anchor_equal_to_positive_is_the_box():
    a = np.array([[1.0, 2.0]])
    ev = reference.evaluate("triplet_margin", {"anchor": a, "positive": a.copy(), "negative": np.array([[4.0, 6.0]])},
                            {"margin": 10.0}, "sum")
    assert ev.value == 10.0 - 5.0
    lo, hi = ev.grads["positive"]                          # -d||v||/dv at v = 0: the unit ball, boxed
    np.testing.assert_array_equal(lo, [[-1.0, -1.0]])
    np.testing.assert_array_equal(hi, [[1.0, 1.0]])
    lo, hi = ev.grads["anchor"]                            # box - (a - n) / |a - n|
    np.testing.assert_allclose(lo, [[-1.0 + 0.6, -1.0 + 0.8]])
    np.testing.assert_allclose(hi, [[1.0 + 0.6, 1.0 + 0.8]])


def test_triplet_p1_corner_is_per_coordinate():
    ev = reference.evaluate("triplet_margin", {"anchor": np.array([[0.0, 0.0]]), "positive": np.array([[0.0, 3.0]]),
                                               "negative": np.array([[5.0, 5.0]])}, {"margin": 20.0, "p": 1.0}, "sum")
    lo, hi = ev.grads["positive"]                          # -sign(a - p): coordinate 0 is |.|'s corner
    np.testing.assert_array_equal(lo, [[-1.0, 1.0]])
    np.testing.assert_array_equal(hi, [[1.0, 1.0]])


def test_triplet_swap_tie_takes_the_hull_of_both_gradients():
    arrays = {"anchor": np.array([[1.0, 0.0]]), "positive": np.array([[0.0, 1.0]]), "negative": np.array([[0.0, 0.0]])}
    ev = reference.evaluate("triplet_margin", arrays, {"margin": 1.0, "swap": True}, "sum")
    assert ev.value == pytest.approx(np.sqrt(2.0))
    lo, hi = ev.grads["negative"]                          # -hull(d d(a,n)/dn, d d(p,n)/dn) = hull((1, 0), (0, 1))
    np.testing.assert_allclose(lo, [[0.0, 0.0]])
    np.testing.assert_allclose(hi, [[1.0, 1.0]])


@pytest.mark.parametrize("gap, flip_conforms", [(1e-9, True), (0.3, False)])
def test_a_gradient_within_rounding_of_the_hinge_corner_may_take_either_side(gap, flip_conforms):
    """z = cos - margin = gap > 0: a float32 framework computes z with an error of
    ~1e-7, so at gap 1e-9 the inactive side's gradient (0) conforms; at 0.3 it does not."""
    from conformance.compare import judge
    from conformance.vocab.tolerance import for_dtype
    arrays = {"input1": np.array([[0.6, 0.8]]), "input2": np.array([[1.0, 0.0]]), "target": np.array([-1.0])}
    ev = reference.evaluate("cosine_embedding", arrays, {"margin": 0.6 - gap}, "sum")
    lo, hi = ev.grads["input1"]
    assert np.all(lo == hi) and np.any(lo != 0)          # active: the exact gradient, no hull
    verdict = judge(lo, hi, ev.grad_scales["input1"], np.zeros_like(lo), for_dtype("float32"))
    assert (verdict.outcome == "agree") == flip_conforms, verdict
    exact = judge(lo, hi, ev.grad_scales["input1"], lo * (1 + 1e-3), for_dtype("float32"))
    assert exact.outcome == ("agree" if flip_conforms else "mismatch"), exact


# -- zero vectors, NaN, policies ------------------------------------------------------
def test_a_zero_vector_has_no_cosine():
    arrays = {"input1": np.array([[0.0, 0.0], [1.0, 2.0]]), "input2": np.array([[1.0, 2.0], [3.0, -1.0]]),
              "target": np.array([1.0, -1.0])}
    ev = reference.evaluate("cosine_embedding", arrays, {}, "none")
    assert np.isnan(ev.value[0]) and np.isfinite(ev.value[1])
    assert np.isnan(ev.grads["input1"][0][0]).all() and np.isnan(ev.grads["input2"][0][0]).all()
    assert np.isfinite(ev.grads["input1"][0][1]).all()


def test_torch_epsilon_in_the_squared_norms():
    """cos = x1.x2 / sqrt((|x1|^2 + e)(|x2|^2 + e)); x1 = 0 gives value 1 (y = 1) and
    gradient -x2 / sqrt(e (|x2|^2 + e)) in x1."""
    e = 1e-12
    arrays = {"input1": np.array([[0.0, 0.0], [1.0, 2.0]]), "input2": np.array([[1.0, 2.0], [3.0, -1.0]]),
              "target": np.array([1.0, 1.0])}
    ev = reference.evaluate("cosine_embedding", arrays, {}, "none", {"sq_eps": e})
    with mp.workdps(DPS):
        want = 1 - (mp.mpf(3) - 2) / mp.sqrt((5 + mp.mpf(e)) * (10 + mp.mpf(e)))
        g0 = [-(mp.mpf(v)) / mp.sqrt(mp.mpf(e) * (5 + mp.mpf(e))) for v in (1, 2)]
    assert ev.value[0] == 1.0 and ev.value[1] == pytest.approx(float(want), rel=1e-15)
    np.testing.assert_allclose(ev.grads["input1"][0][0], [float(g) for g in g0], rtol=1e-14)


def test_norm_floor_divides_short_vectors_by_the_floor():
    x, y = np.array([[1e-9, 0.0]]), np.array([[1.0, 1.0]])
    ev = reference.evaluate("cosine_similarity", {"input": x, "target": y}, {}, "sum", {"norm_floor": 1e-8})
    assert ev.value == pytest.approx(-0.1 / np.sqrt(2.0), rel=1e-15)         # -(x / 1e-8) . y_hat
    np.testing.assert_allclose(ev.grads["input"][0], -np.array([[1.0, 1.0]]) / np.sqrt(2.0) / 1e-8, rtol=1e-15)
    zero = reference.evaluate("cosine_similarity", {"input": 0 * x, "target": y}, {}, "sum", {"norm_floor": 1e-7})
    assert zero.value == 0.0 and np.isfinite(zero.grads["target"][0]).all()


def test_distance_knobs_shift_and_power_eps():
    a, pos, neg = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]])
    arrays = {"anchor": a, "positive": pos, "negative": neg}
    shifted = reference.evaluate("triplet_margin", arrays, {"margin": 1.0}, "sum", {"shift": 0.5})
    assert shifted.value == pytest.approx(np.hypot(-2.5, -3.5) - np.hypot(0.5, -0.5) + 1.0, rel=1e-15)
    powered = reference.evaluate("triplet_margin", arrays, {"margin": 1.0, "p": 3.0}, "sum", {"power_eps": 0.5})
    assert powered.value == pytest.approx((27 + 64 + 0.5) ** (1 / 3) - (1 + 0.5) ** (1 / 3) + 1.0, rel=1e-14)
    at_zero = reference.evaluate("triplet_margin", {"anchor": a, "positive": a.copy(), "negative": neg},
                                 {"margin": 2.0}, "sum", {"power_eps": 1e-6})
    np.testing.assert_array_equal(at_zero.grads["positive"][0], [[0.0, 0.0]])   # smooth: (0 + eps)^(1/2)


def test_nan_propagates_to_the_whole_row():
    arrays = {"anchor": np.array([[np.nan, 0.0], [1.0, 1.0]]), "positive": np.array([[0.0, 0.0], [1.0, 0.0]]),
              "negative": np.array([[1.0, 1.0], [0.0, 1.0]])}
    ev = reference.evaluate("triplet_margin", arrays, {}, "none")
    assert np.isnan(ev.value[0]) and np.isfinite(ev.value[1])
    for name in TRIPLET:
        assert np.isnan(ev.grads[name][0][0]).all() and np.isfinite(ev.grads[name][0][1]).all(), name


@pytest.mark.parametrize("swap", [False, True])
def test_an_infinite_negative_behind_an_inactive_hinge_has_zero_gradient(swap):
    """d(a, n) = inf: z = d(a, p) - inf + margin = -inf under any finite move of the
    arguments, the loss is 0 around the point, and so is every gradient (the distance's
    own slope at the infinite entry, inf / inf, is not multiplied into it)."""
    arrays = {"anchor": np.array([[1.0, 2.0]]), "positive": np.array([[0.0, 1.0]]),
              "negative": np.array([[np.inf, 0.0]])}
    ev = reference.evaluate("triplet_margin", arrays, {"swap": swap}, "none")
    assert ev.value[0] == 0.0
    for name in arrays:
        assert np.all(ev.grads[name][0] == 0) and np.all(ev.grads[name][1] == 0), (name, ev.grads[name])
    # active, the infinite entry's slope stays undefined: a positive at infinity
    arrays["positive"], arrays["negative"] = np.array([[np.inf, 1.0]]), np.array([[3.0, 0.0]])
    ev = reference.evaluate("triplet_margin", arrays, {}, "none")
    assert ev.value[0] == np.inf and np.isnan(ev.grads["anchor"][0][0, 0])


def test_ntxent_without_positive_pairs_is_nan_with_zero_gradient():
    e = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    ev = reference.evaluate("ntxent", {"embeddings": e, "labels": np.array([0, 1, 2])}, {}, "mean")
    assert np.isnan(ev.value) and np.all(ev.grads["embeddings"][0] == 0)
    one = reference.evaluate("ntxent", {"embeddings": e[:1], "labels": np.array([0])}, {}, "mean")
    assert np.isnan(one.value)
    same = reference.evaluate("ntxent", {"embeddings": e, "labels": np.array([4, 4, 4])}, {}, "mean")
    assert same.value == 0.0 and np.all(same.grads["embeddings"][0] == 0)


# -- identities (a second oracle) -------------------------------------------------------
def test_identities_between_the_losses():
    rng = np.random.default_rng(5)
    x, y, z = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    neg = reference.evaluate("cosine_similarity", {"input": x, "target": y}, {"form": "negative"}, "none")
    dist = reference.evaluate("cosine_similarity", {"input": x, "target": y}, {"form": "distance"}, "none")
    np.testing.assert_allclose(dist.value, 1 + neg.value, rtol=1e-15, atol=1e-15)
    emb = reference.evaluate("cosine_embedding", {"input1": x, "input2": y, "target": np.ones(4)}, {}, "none")
    np.testing.assert_allclose(emb.value, dist.value, rtol=1e-15, atol=1e-15)
    arrays = {"anchor": x, "positive": y, "negative": z}
    for swap in (False, True):
        t = reference.evaluate("triplet_margin", arrays, {"margin": 1.0, "swap": swap}, "none")
        w = reference.evaluate("triplet_margin_with_distance", arrays, {"margin": 1.0, "swap": swap}, "none")
        np.testing.assert_array_equal(t.value, w.value)
    labels = np.array([0, 1, 0, 1])
    base = reference.evaluate("ntxent", {"embeddings": x, "labels": labels}, {"temperature": 0.3}, "mean")
    scaled = reference.evaluate("ntxent", {"embeddings": 7.0 * x, "labels": labels}, {"temperature": 0.3}, "mean")
    assert scaled.value == pytest.approx(float(base.value), rel=1e-14)    # the cosine ignores the scale
    np.testing.assert_allclose(7.0 * scaled.grads["embeddings"][0], base.grads["embeddings"][0], rtol=1e-12)


def test_the_formulas_keep_the_dtype():
    x = np.array([[300.0, 300.0], [1.0, 2.0]], dtype=np.float16)        # 300^2 overflows float16
    ev = reference.call("cosine_similarity", {"input": x, "target": x}, {}, "none")
    assert ev.value.dtype == np.float16 and np.all(np.abs(ev.value + 1) < 1e-2)
    t = reference.call("triplet_margin", {"anchor": x, "positive": -x, "negative": 0 * x}, {}, "none")
    assert t.value.dtype == np.float16 and np.isfinite(t.value).all()


# -- refusals ---------------------------------------------------------------------
@pytest.mark.parametrize("loss, arrays, params", [
    ("cosine_embedding", {"input1": np.zeros((3, 2)), "input2": np.zeros((1, 2)), "target": np.ones(3)}, {}),
    ("cosine_embedding", {"input1": np.zeros((3, 2)), "input2": np.zeros((3, 2)), "target": np.ones(1)}, {}),
    ("cosine_similarity", {"input": np.zeros((3, 2)), "target": np.zeros((3, 1))}, {}),
    ("cosine_similarity", {"input": np.ones((3, 2)), "target": np.ones((3, 2))}, {"form": "angle"}),
    ("triplet_margin", {"anchor": np.zeros((3, 2)), "positive": np.zeros((1, 2)), "negative": np.zeros((3, 2))}, {}),
    ("triplet_margin", {"anchor": np.zeros((2, 2)), "positive": np.ones((2, 2)), "negative": np.ones((2, 2))},
     {"p": 0.5}),
    ("triplet_margin", {"anchor": np.zeros((2, 2, 2)), "positive": np.ones((2, 2, 2)),
                        "negative": np.ones((2, 2, 2))}, {}),
    ("triplet_margin_with_distance", {"anchor": np.ones((2, 2)), "positive": np.ones((2, 2)),
                                      "negative": np.ones((2, 2))}, {"distance": "manhattan"}),
    ("ntxent", {"embeddings": np.ones((4, 2)), "labels": np.array([0, 0, 1])}, {}),
])
def test_out_of_domain_input_is_refused(loss, arrays, params):
    with pytest.raises(reference.DomainError) as err:
        reference.evaluate(loss, arrays, params, "mean")
    assert not err.value.value_dependent


@pytest.mark.parametrize("label", [0.0, 2.0, np.nan])
def test_a_target_other_than_plus_or_minus_one_is_refused_by_value(label):
    # a NaN is no label either (HingeEmbeddingLoss's y is refused alike)
    with pytest.raises(reference.DomainError) as err:
        reference.evaluate("cosine_embedding", {"input1": np.ones((2, 2)), "input2": np.ones((2, 2)),
                                                "target": np.array([label, 1.0])}, {}, "mean")
    assert err.value.value_dependent


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_ntxent_has_only_the_mean(reduction):
    with pytest.raises(reference.DomainError, match="mean"):
        reference.evaluate("ntxent", {"embeddings": np.ones((2, 2)), "labels": np.array([0, 0])}, {}, reduction)
