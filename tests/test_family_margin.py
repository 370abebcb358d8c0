"""The margin family's oracle: values against mpmath (each formula written again here from
the torch.nn docs), gradients against finite differences, subgradients at the corners,
NaN propagation, refusals."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")
ZERO = mp.mpf(0)


def _rng_arrays(data, shape, magnitude=None):
    """Reals of a Hypothesis-chosen magnitude (a seeded NumPy bulk: fast, reproducible)."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    mag = magnitude if magnitude is not None else data.draw(st.sampled_from([1.0, 10.0, 1e3]), label="magnitude")
    return np.random.default_rng(seed).uniform(-mag, mag, shape)


def _signs(data, shape):
    seed = data.draw(st.integers(0, 2**32 - 1), label="sign seed")
    return np.random.default_rng(seed).choice([-1.0, 1.0], shape)


def _off_corner(rng, draw, corner, min_gap=0.05):
    """Redraw until every hinge argument is at least ``min_gap`` from its corner."""
    for _ in range(1000):
        arrays = draw(rng)
        if np.all(np.abs(corner(arrays)) > min_gap):
            return arrays
    raise AssertionError("no point away from the corners found")


# -- margin_ranking (the worked example) --------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS))
def test_margin_ranking_matches_mpmath(data, reduction):
    n = data.draw(st.integers(0, 5))
    finite = st.floats(-1e3, 1e3, allow_nan=False)
    x1 = np.array(data.draw(st.lists(finite, min_size=n, max_size=n)))
    x2 = np.array(data.draw(st.lists(finite, min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))
    margin = data.draw(st.floats(-1, 2))
    ev = reference.evaluate("margin_ranking", {"input1": x1, "input2": x2, "target": y},
                            {"margin": margin}, reduction)
    with mp.workdps(DPS):
        terms = mp_array(x1.shape, lambda i: max(ZERO, -F(y[i]) * (F(x1[i]) - F(x2[i])) + F(margin)))
        floors = mp_array(x1.shape, lambda i: abs(F(x1[i])) + abs(F(x2[i])) + abs(F(margin)))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(0)
    y = rng.choice([-1.0, 1.0], 6)
    x2 = rng.uniform(-3, 3, 6)
    x1 = x2 - y * (0.5 + rng.choice([-1.0, 1.0], 6) * rng.uniform(0.2, 2.0, 6))  # z kept off 0
    assert_gradient_matches_differences("margin_ranking", {"input1": x1, "input2": x2, "target": y},
                                        {"margin": 0.5}, reduction, ("input1", "input2"))


def test_margin_ranking_corner_has_the_whole_segment_as_subgradient():
    ev = reference.evaluate("margin_ranking", {"input1": np.array([1.0]), "input2": np.array([1.0]),
                                               "target": np.array([1.0])}, {"margin": 0.0}, "sum")
    lo, hi = ev.grads["input1"]
    assert (lo[0], hi[0]) == (-1.0, 0.0)


def test_margin_ranking_refuses_unequal_shapes():
    with pytest.raises(reference.DomainError):
        reference.evaluate("margin_ranking", {"input1": np.zeros(3), "input2": np.zeros(1),
                                              "target": np.ones(3)}, {}, "mean")


# -- hinge_embedding ------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS))
def test_hinge_embedding_matches_mpmath(data, reduction):
    shape = (data.draw(st.integers(0, 4)), data.draw(st.integers(1, 3)))
    x, y = _rng_arrays(data, shape), _signs(data, shape)
    margin = data.draw(st.floats(-1, 2))
    ev = reference.evaluate("hinge_embedding", {"input": x, "target": y}, {"margin": margin}, reduction)
    with mp.workdps(DPS):
        terms = mp_array(shape, lambda i: F(x[i]) if y[i] == 1 else max(ZERO, F(margin) - F(x[i])))
        floors = mp_array(shape, lambda i: abs(F(x[i])) + abs(F(margin)))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_embedding_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(1)
    y = rng.choice([-1.0, 1.0], (3, 4))
    x = _off_corner(rng, lambda r: r.uniform(-2, 3, (3, 4)), lambda x: np.where(y == -1, 0.75 - x, 1.0))
    assert_gradient_matches_differences("hinge_embedding", {"input": x, "target": y}, {"margin": 0.75},
                                        reduction, ("input",))


def test_hinge_embedding_corner_and_nan():
    ev = reference.evaluate("hinge_embedding", {"input": np.array([1.0, np.nan, np.nan]),
                                                "target": np.array([-1.0, -1.0, 1.0])}, {"margin": 1.0}, "none")
    lo, hi = ev.grads["input"]
    assert (lo[0], hi[0]) == (-1.0, 0.0)          # at margin - x = 0
    assert np.isnan(lo[1]) and np.isnan(hi[1])    # the hinge at NaN
    assert lo[2] == hi[2] == 1.0                  # d/dx x = 1 for every x
    assert np.isnan(ev.value[1:]).all()


@pytest.mark.parametrize("target", [[1.0, 0.0], [1.0, 2.0], [-1.0, -0.5]])
def test_hinge_embedding_refuses_labels_other_than_plus_minus_one(target):
    with pytest.raises(reference.DomainError) as info:
        reference.evaluate("hinge_embedding", {"input": np.ones(2), "target": np.array(target)}, {}, "mean")
    assert info.value.value_dependent


# -- soft_margin ----------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS))
def test_soft_margin_matches_mpmath(data, reduction):
    shape = (data.draw(st.integers(0, 4)), data.draw(st.integers(1, 3)))
    x, y = _rng_arrays(data, shape), _signs(data, shape)
    ev = reference.evaluate("soft_margin", {"input": x, "target": y}, {}, reduction)
    with mp.workdps(DPS):
        terms = mp_array(shape, lambda i: mp.log(1 + mp.exp(-F(y[i]) * F(x[i]))))
        floors = mp_array(shape, lambda i: abs(F(x[i])) + 1)
    assert_round_off(ev, terms, floors, reduction)


def test_soft_margin_does_not_overflow():
    ev = reference.evaluate("soft_margin", {"input": np.array([-1000.0, 1000.0, -np.inf]),
                                            "target": np.array([1.0, 1.0, 1.0])}, {}, "none")
    assert ev.value[0] == 1000.0 and ev.value[1] == 0.0 and ev.value[2] == np.inf
    np.testing.assert_array_equal(ev.grads["input"][0], [-1.0, -0.0, -1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(2)
    assert_gradient_matches_differences("soft_margin", {"input": rng.uniform(-5, 5, (2, 3)),
                                                        "target": rng.choice([-1.0, 1.0], (2, 3))},
                                        {}, reduction, ("input",))


# -- multilabel_soft_margin -------------------------------------------------------------
def _mlsm_exact(x, y, w):
    """-1/C sum_c w_c [y log sigmoid(x) + (1 - y) log sigmoid(-x)] per row (torch docs)."""
    classes = x.shape[-1]

    def log_sigmoid(v):
        return -mp.log(1 + mp.exp(-v))

    def row(idx):
        total = ZERO
        for c in range(classes):
            xc, yc = F(x[idx + (c,)]), F(y[idx + (c,)])
            total += F(w[c]) * (yc * log_sigmoid(xc) + (1 - yc) * log_sigmoid(-xc))
        return -total / classes
    return mp_array(x.shape[:-1], row)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans(), st.booleans())
def test_multilabel_soft_margin_matches_mpmath(data, reduction, weighted, batched):
    classes = data.draw(st.integers(1, 4))
    shape = (data.draw(st.integers(0, 3)), classes) if batched else (classes,)
    x = _rng_arrays(data, shape)
    y = np.random.default_rng(data.draw(st.integers(0, 99))).uniform(0, 1, shape)
    if data.draw(st.booleans(), label="hard labels"):
        y = np.round(y)
    w = np.random.default_rng(7).uniform(0.125, 4, classes) if weighted else np.ones(classes)
    arrays = {"input": x, "target": y} | ({"weight": w} if weighted else {})
    ev = reference.evaluate("multilabel_soft_margin", arrays, {}, reduction)
    with mp.workdps(DPS):
        terms = _mlsm_exact(x, y, w)
        floors = mp_array(shape[:-1], lambda i: sum(F(w[c]) * (abs(F(x[i + (c,)])) + 1) for c in range(classes)))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(3)
    arrays = {"input": rng.uniform(-4, 4, (3, 4)), "target": rng.uniform(0, 1, (3, 4)),
              "weight": rng.uniform(0.5, 2, 4)}
    assert_gradient_matches_differences("multilabel_soft_margin", arrays, {}, reduction, ("input", "target"))


def test_multilabel_soft_margin_infinite_logits_take_the_limit():
    x = np.array([[np.inf, -np.inf], [np.inf, -np.inf]])
    ev = reference.evaluate("multilabel_soft_margin", {"input": x, "target": np.array([[1.0, 0.0], [0.0, 1.0]])},
                            {}, "none")
    assert ev.value[0] == 0.0 and ev.value[1] == np.inf
    np.testing.assert_array_equal(ev.grads["input"][0][0], [0.0, 0.0])


def test_multilabel_soft_margin_refuses_a_weight_per_sample():
    with pytest.raises(reference.DomainError):
        reference.evaluate("multilabel_soft_margin", {"input": np.zeros((2, 3)), "target": np.zeros((2, 3)),
                                                      "weight": np.ones(2)}, {}, "mean")


# -- multilabel_margin ---------------------------------------------------------------------
def _mlm_exact(x, t):
    """sum over targets j (entries before the first -1) and non-targets i of
    max(0, 1 - (x[y_j] - x[i])) / C, per row (torch docs)."""
    rows, targets = np.atleast_2d(x), np.atleast_2d(t)
    out = []
    for r, tr in zip(rows, targets):
        listed = []
        for v in tr:
            if v < 0:
                break
            listed.append(int(v))
        total = ZERO
        for j in listed:
            for i in range(len(r)):
                if i not in listed:
                    total += max(ZERO, 1 - (F(r[j]) - F(r[i])))
        out.append(total / len(r))
    terms = np.empty(len(out), dtype=object)
    terms[:] = out
    return terms if x.ndim == 2 else terms.reshape(())


def _multilabel_targets(rng, n, classes):
    t = np.full((n, classes), -1, dtype=np.int64)
    for r in range(n):
        k = int(rng.integers(0, classes + 1))
        t[r, :k] = rng.permutation(classes)[:k]
        if k + 1 < classes:
            t[r, k + 1:] = rng.integers(0, classes, classes - k - 1)
    return t


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans())
def test_multilabel_margin_matches_mpmath(data, reduction, batched):
    n, classes = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 5))
    x = _rng_arrays(data, (n, classes))
    t = _multilabel_targets(np.random.default_rng(data.draw(st.integers(0, 99))), n, classes)
    if not batched:
        x, t = _rng_arrays(data, (classes,)), _multilabel_targets(np.random.default_rng(5), 1, classes)[0]
    ev = reference.evaluate("multilabel_margin", {"input": x, "target": t}, {}, reduction)
    with mp.workdps(DPS):
        terms = _mlm_exact(x, t)
        # at most C^2 pairs, each summing terms of size 1 + |x_j| + |x_i|, over C
        bound = classes * (1 + 2 * F(np.abs(x).max(initial=0)))
        floors = mp_array(terms.shape, lambda i: bound)
    assert_round_off(ev, terms, floors, reduction)


def test_multilabel_margin_docs_example_and_duplicates():
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    ev = reference.evaluate("multilabel_margin", {"input": x, "target": np.array([[3, 0, -1, 1]])}, {}, "none")
    assert math.isclose(ev.value[0], 0.85, rel_tol=1e-15)    # the docs' worked example
    ev = reference.evaluate("multilabel_margin", {"input": x, "target": np.array([[0, 0, -1, 1]])}, {}, "none")
    assert math.isclose(ev.value[0], 2 * (1.1 + 1.3 + 1.7) / 4, rel_tol=1e-15)   # index 0 counted twice


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(4)
    t = np.array([[2, 0, -1, 1, 3], [-1, 0, 0, 0, 0], [4, -1, 1, 2, 3], [1, 1, -1, 0, 0]])

    def corners(x):
        return np.array([1 - x[r, j] + x[r, i] for r in range(4) for j in range(5)
                         for i in range(5)])
    x = _off_corner(rng, lambda g: g.uniform(-2, 2, (4, 5)), corners)
    assert_gradient_matches_differences("multilabel_margin", {"input": x, "target": t}, {}, reduction, ("input",))


def test_multilabel_margin_corner_bounds_add():
    # targets {0}; non-targets 1, 2 both at the corner 1 - (1 - 0) = 0; 3 active (z = 2)
    x = np.array([[1.0, 0.0, 0.0, 2.0]])
    ev = reference.evaluate("multilabel_margin", {"input": x, "target": np.array([[0, -1, 0, 0]])}, {}, "sum")
    lo, hi = ev.grads["input"]
    np.testing.assert_array_equal(lo[0], [-3 / 4, 0.0, 0.0, 1 / 4])
    np.testing.assert_array_equal(hi[0], [-1 / 4, 1 / 4, 1 / 4, 1 / 4])


def test_multilabel_margin_nan_propagates():
    ev = reference.evaluate("multilabel_margin", {"input": np.array([[np.nan, 0.0, 1.0]]),
                                                  "target": np.array([[1, -1, 0]])}, {}, "none")
    assert np.isnan(ev.value[0])
    lo, _ = ev.grads["input"]
    assert np.isnan(lo[0, 0]) and np.isnan(lo[0, 1]) and lo[0, 2] == 1 / 3


@pytest.mark.parametrize("target", [[[3, -1, 0]], [[1, -2, 0]], [[1, -1, 7]]])
def test_multilabel_margin_refuses_entries_out_of_range(target):
    with pytest.raises(reference.DomainError) as info:
        reference.evaluate("multilabel_margin", {"input": np.zeros((1, 3)), "target": np.array(target)},
                           {}, "mean")
    assert info.value.value_dependent


def test_multilabel_margin_refuses_a_target_of_another_shape():
    with pytest.raises(reference.DomainError):
        reference.evaluate("multilabel_margin", {"input": np.zeros((1, 3)), "target": np.array([[0, 1, -1, 2]])},
                           {}, "mean")


# -- multi_margin ------------------------------------------------------------------------------
def _mm_exact(x, t, w, p, margin):
    """sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C per row (torch docs)."""
    rows, targets = np.atleast_2d(x), np.atleast_1d(t)
    out = np.empty(len(rows), dtype=object)
    for n, (r, y) in enumerate(zip(rows, targets)):
        total = ZERO
        for i in range(len(r)):
            if i != y:
                total += F(w[y]) * max(ZERO, F(margin) - F(r[y]) + F(r[i])) ** p
        out[n] = total / len(r)
    return out if x.ndim == 2 else out.reshape(())


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from([1, 2]), st.booleans(), st.booleans())
def test_multi_margin_matches_mpmath(data, reduction, p, weighted, batched):
    n, classes = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 5))
    shape = (n, classes) if batched else (classes,)
    x = _rng_arrays(data, shape)
    t = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, classes, shape[:-1])
    margin = data.draw(st.floats(-1, 2))
    w = np.random.default_rng(8).uniform(0.125, 4, classes) if weighted else np.ones(classes)
    arrays = {"input": x, "target": t} | ({"weight": w} if weighted else {})
    ev = reference.evaluate("multi_margin", arrays, {"p": p, "margin": margin}, reduction)
    with mp.workdps(DPS):
        terms = _mm_exact(x, t, w, p, margin)
        big = F(abs(margin) + 2 * float(np.abs(x).max(initial=0)))
        floors = mp_array(terms.shape, lambda i: F(w.max()) * big ** p)
    assert_round_off(ev, terms, floors, reduction)


def test_multi_margin_docs_example_and_plain_mean_with_weights():
    ev = reference.evaluate("multi_margin", {"input": np.array([[0.1, 0.2, 0.4, 0.8]]), "target": np.array([3])},
                            {}, "mean")
    assert math.isclose(float(ev.value), 0.325, rel_tol=1e-15)   # the docs' worked example
    arrays = {"input": np.array([[0.1, 0.2, 0.4, 0.8], [0.3, 0.1, 0.5, 0.2]]), "target": np.array([3, 0]),
              "weight": np.array([1.0, 2.0, 3.0, 4.0])}
    rows = reference.evaluate("multi_margin", arrays, {}, "none").value
    np.testing.assert_allclose(rows, [4 * 1.3 / 4, 1 * 2.9 / 4], rtol=1e-15)
    mean = reference.evaluate("multi_margin", arrays, {}, "mean").value
    assert math.isclose(float(mean), rows.sum() / 2, rel_tol=1e-15)   # not / (w[3] + w[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_gradients_match_finite_differences(reduction, p):
    rng = np.random.default_rng(5 + p)
    t = np.array([0, 3, 1, 1])
    w = np.array([0.5, 2.0, 1.0, 3.0])

    def corners(x):
        return np.array([0.7 - x[n, t[n]] + x[n, i] for n in range(4) for i in range(4) if i != t[n]])
    x = _off_corner(rng, lambda g: g.uniform(-2, 2, (4, 4)), corners)
    assert_gradient_matches_differences("multi_margin", {"input": x, "target": t, "weight": w},
                                        {"p": p, "margin": 0.7}, reduction, ("input",))


def test_multi_margin_corner_bounds_add_for_p1_and_vanish_for_p2():
    arrays = {"input": np.array([[1.0, 0.0, 0.0]]), "target": np.array([0])}   # two hinges at z = 0
    lo, hi = reference.evaluate("multi_margin", arrays, {"p": 1}, "sum").grads["input"]
    np.testing.assert_array_equal(lo[0], [-2 / 3, 0.0, 0.0])
    np.testing.assert_array_equal(hi[0], [0.0, 1 / 3, 1 / 3])
    lo, hi = reference.evaluate("multi_margin", arrays, {"p": 2}, "sum").grads["input"]
    np.testing.assert_array_equal(lo, hi)
    np.testing.assert_array_equal(lo[0], [0.0, 0.0, 0.0])


def test_multi_margin_nan_propagates():
    ev = reference.evaluate("multi_margin", {"input": np.array([[np.nan, 0.0, 0.0], [0.0, 2.0, 0.0]]),
                                             "target": np.array([1, 1])}, {}, "none")
    assert np.isnan(ev.value[0]) and ev.value[1] == 0.0
    lo, _ = ev.grads["input"]
    assert np.isnan(lo[0, :2]).all() and lo[0, 2] == 1 / 3 and not np.isnan(lo[1]).any()


@pytest.mark.parametrize("params, arrays", [
    ({"p": 3}, {"input": np.zeros((1, 3)), "target": np.array([0])}),
    ({"p": 0}, {"input": np.zeros((1, 3)), "target": np.array([0])}),
    ({}, {"input": np.zeros((2, 3)), "target": np.array([0, 1, 2])}),
    ({}, {"input": np.zeros((1, 3)), "target": np.array([0]), "weight": np.ones(2)}),
])
def test_multi_margin_refuses_bad_parameters_and_shapes(params, arrays):
    with pytest.raises(reference.DomainError) as info:
        reference.evaluate("multi_margin", arrays, params, "mean")
    assert not info.value.value_dependent


@pytest.mark.parametrize("target", [[3], [-1]])
def test_multi_margin_refuses_class_indices_out_of_range(target):
    with pytest.raises(reference.DomainError) as info:
        reference.evaluate("multi_margin", {"input": np.zeros((1, 3)), "target": np.array(target)}, {}, "mean")
    assert info.value.value_dependent


@pytest.mark.parametrize("loss, arrays", [
    ("multi_margin", {"input": np.zeros((0, 3)), "target": np.zeros(0, np.int64)}),
    ("multilabel_margin", {"input": np.zeros((0, 3)), "target": np.zeros((0, 3), np.int64)}),
    ("multilabel_soft_margin", {"input": np.zeros((0, 3)), "target": np.zeros((0, 3))}),
])
def test_empty_batch_sums_to_zero_and_averages_to_nan(loss, arrays):
    assert reference.evaluate(loss, arrays, {}, "sum").value == 0.0
    assert np.isnan(reference.evaluate(loss, arrays, {}, "mean").value)


# -- the corners within rounding (kink_scale) ------------------------------------------------------
K32, EPS32, EPS64 = 16, 2.0 ** -23, 2.0 ** -52


def test_a_hinge_within_rounding_of_its_corner_accepts_either_side():
    # z = margin - x_y + x_1 = -2^-23 exactly, but float32 computes (margin - 100) + 100 = 0
    arrays = {"input": np.array([[100.0, 100.0, -42.5]]), "target": np.array([0])}
    ev = reference.evaluate("multi_margin", arrays, {"margin": -EPS32}, "sum")
    lo, hi = ev.grads["input"]
    assert lo[0, 1] == hi[0, 1] == 0.0                       # exactly: the inactive side
    jump, scale = 1 / 3, ev.grad_scales["input"][0, 1]
    assert K32 * EPS32 * scale >= jump                       # float32 may land on either side
    assert K32 * EPS64 * scale < jump                        # float64 resolves it
    far = reference.evaluate("multi_margin", arrays, {"margin": -0.5}, "sum").grad_scales["input"][0, 1]
    assert K32 * EPS32 * far < 1e-3 * jump                   # away from the corner: held tight


def test_a_flushed_subnormal_is_not_within_rounding_of_the_corner():
    # margin - x = 2^-149 > 0: the hinge is active; a flush to zero is not a rounding error
    ev = reference.evaluate("hinge_embedding", {"input": np.array([-(2.0 ** -149)]), "target": np.array([-1.0])},
                            {"margin": -0.0}, "sum")
    assert ev.grads["input"][0][0] == -1.0
    assert K32 * EPS32 * ev.grad_scales["input"][0] < 1e-3
