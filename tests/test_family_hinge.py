"""The hinge family's oracle: values against mpmath (each formula written again from the
Keras / optax documentation, in optax's own form where it differs from the oracle's),
gradients against finite differences, subgradients at corners and ties, NaN and
infinite scores, refusals, and Keras's 0/1-label conversion (the policy knob)."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")
ZERO = mp.mpf(0)


def _reals(data, shape, bound=1e3):
    return np.array(data.draw(st.lists(st.floats(-bound, bound, allow_nan=False), min_size=int(np.prod(shape)),
                                       max_size=int(np.prod(shape))))).reshape(shape)


def _shape(data):
    return (data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4)))


# -- binary: hinge, squared hinge, perceptron -------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(["hinge", "squared_hinge", "perceptron"]),
       st.sampled_from(["signs", "binary"]))
def test_binary_losses_match_mpmath(data, reduction, loss, labels):
    shape = _shape(data)
    x = _reals(data, shape)
    if loss == "perceptron":
        labels = "signs"
    pool = [0.0, 1.0] if labels == "binary" else [-1.0, 1.0]
    t = np.array(data.draw(st.lists(st.sampled_from(pool), min_size=x.size, max_size=x.size))).reshape(shape)
    params = {} if loss == "perceptron" else {"labels": labels}
    ev = reference.evaluate(loss, {"input": x, "target": t}, params, reduction)
    margin = 0 if loss == "perceptron" else 1

    def y(i):
        return 2 * F(t[i]) - 1 if labels == "binary" else F(t[i])
    with mp.workdps(DPS):
        hinge = mp_array(shape, lambda i: max(ZERO, margin - y(i) * F(x[i])))
        size = mp_array(shape, lambda i: margin + abs(F(x[i])))
        if loss == "squared_hinge":
            terms = mp_array(shape, lambda i: hinge[i] ** 2)
            floors = mp_array(shape, lambda i: 2 * hinge[i] * size[i])
        else:
            terms, floors = hinge, size
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["hinge", "squared_hinge", "perceptron"])
def test_binary_gradients_match_finite_differences(loss, reduction):
    rng = np.random.default_rng(1)
    y = rng.choice([-1.0, 1.0], (3, 4))
    margin = 0.0 if loss == "perceptron" else 1.0
    # y x kept at least 0.2 away from the corner y x = margin
    x = y * (margin + rng.choice([-1.0, 1.0], (3, 4)) * rng.uniform(0.2, 3.0, (3, 4)))
    assert_gradient_matches_differences(loss, {"input": x, "target": y}, {}, reduction, ("input",))


def test_binary_labels_are_read_as_two_t_minus_one():
    x = np.array([[0.25, -3.0], [2.0, 0.5]])
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    binary = reference.evaluate("hinge", {"input": x, "target": t}, {"labels": "binary"}, "none")
    signs = reference.evaluate("hinge", {"input": x, "target": 2 * t - 1}, {}, "none")
    np.testing.assert_array_equal(binary.value, signs.value)
    np.testing.assert_array_equal(binary.value, [[1.25, 4.0], [0.0, 1.5]])


def test_hinge_corner_has_the_segment_between_zero_and_minus_y():
    ev = reference.evaluate("hinge", {"input": np.array([[1.0, -1.0, 2.0]]),
                                      "target": np.array([[1.0, -1.0, -1.0]])}, {}, "sum")
    lo, hi = ev.grads["input"]
    np.testing.assert_array_equal(lo, [[-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(hi, [[0.0, 1.0, 1.0]])
    sq = reference.evaluate("squared_hinge", {"input": np.array([[1.0]]), "target": np.array([[1.0]])}, {}, "sum")
    assert sq.grads["input"][0][0, 0] == sq.grads["input"][1][0, 0] == 0.0


def test_perceptron_corner_at_zero_score():
    ev = reference.evaluate("perceptron", {"input": np.array([0.0, 0.0]), "target": np.array([1.0, -1.0])}, {}, "none")
    np.testing.assert_array_equal(ev.value, [0.0, 0.0])
    np.testing.assert_array_equal(ev.grads["input"][0], [-1.0, 0.0])
    np.testing.assert_array_equal(ev.grads["input"][1], [0.0, 1.0])


def test_binary_nan_propagates_and_infinities_have_their_limits():
    x = np.array([[np.nan, np.inf, -np.inf]])
    y = np.array([[1.0, 1.0, 1.0]])
    for loss, want, grad in (("hinge", [np.nan, 0.0, np.inf], [np.nan, 0.0, -1.0]),
                             ("squared_hinge", [np.nan, 0.0, np.inf], [np.nan, 0.0, -np.inf])):
        ev = reference.evaluate(loss, {"input": x, "target": y}, {}, "none")
        np.testing.assert_array_equal(ev.value, [want])
        np.testing.assert_array_equal(ev.grads["input"][0], [grad])
        np.testing.assert_array_equal(ev.grads["input"][1], [grad])


def test_keras_conversion_knob_is_all_or_nothing():
    x = np.array([[0.5, -2.0]])
    only01 = {"input": x, "target": np.array([[0.0, 1.0]])}
    plain = reference.evaluate("hinge", only01, {}, "none").value
    keras = reference.evaluate("hinge", only01, {}, "none", {"convert_binary": True}).value
    np.testing.assert_array_equal(plain, [[1.0, 3.0]])        # y = 0 gives 1
    np.testing.assert_array_equal(keras, [[1.5, 3.0]])        # y = 2 * 0 - 1 = -1
    mixed = {"input": np.array([[0.5, -2.0, 4.0]]), "target": np.array([[0.0, 1.0, -1.0]])}
    np.testing.assert_array_equal(reference.evaluate("hinge", mixed, {}, "none", {"convert_binary": True}).value,
                                  [[1.0, 3.0, 5.0]])
    # all or nothing under labels = 'binary' too: one NaN label, and no 0 label is converted
    with_nan = {"input": np.array([[0.5, -2.0, 4.0]]), "target": np.array([[0.0, 1.0, np.nan]])}
    math = reference.evaluate("hinge", with_nan, {"labels": "binary"}, "none").value
    keras = reference.evaluate("hinge", with_nan, {"labels": "binary"}, "none", {"convert_binary": True}).value
    np.testing.assert_array_equal(math, [[1.5, 3.0, np.nan]])   # y = 2 t - 1, the NaN propagates to its own term
    np.testing.assert_array_equal(keras, [[1.0, 3.0, np.nan]])  # y = t: the 0 label a sign of 0


def test_binary_refusals():
    with pytest.raises(reference.DomainError):
        reference.evaluate("hinge", {"input": np.zeros((2, 1)), "target": np.ones((1, 2))}, {}, "mean")
    with pytest.raises(reference.DomainError):
        reference.evaluate("perceptron", {"input": np.zeros(3), "target": np.ones(1)}, {}, "mean")
    with pytest.raises(reference.DomainError) as info:
        reference.evaluate("squared_hinge", {"input": np.zeros(2), "target": np.array([0.5, 1.0])},
                           {"labels": "binary"}, "mean")
    assert info.value.value_dependent
    with pytest.raises(reference.DomainError):
        reference.evaluate("hinge", {"input": np.zeros(2), "target": np.ones(2)}, {"labels": "ternary"}, "mean")


def test_formula_keeps_the_dtype():
    x = np.array([[0.5, -2.0]], np.float32)
    for loss in ("hinge", "squared_hinge", "perceptron"):
        ev = reference.call(loss, {"input": x, "target": np.array([[1.0, -1.0]], np.float32)},
                            {}, "mean")
        assert ev.value.dtype == np.float32 and ev.grads["input"][0].dtype == np.float32


# -- categorical hinge ------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(["one_hot", "binary", "soft", "signs"]))
def test_categorical_hinge_matches_mpmath(data, reduction, kind):
    n, c = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    x = _reals(data, (n, c))
    if kind == "one_hot":
        y = np.eye(c)[data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))].reshape(n, c)
    elif kind == "soft":
        y = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n * c, max_size=n * c))).reshape(n, c)
    else:
        pool = [0.0, 1.0] if kind == "binary" else [-1.0, 1.0]
        y = np.array(data.draw(st.lists(st.sampled_from(pool), min_size=n * c, max_size=n * c))).reshape(n, c)
    ev = reference.evaluate("categorical_hinge", {"input": x, "target": y}, {}, reduction)
    with mp.workdps(DPS):
        def row(i):
            neg = max((1 - F(y[i][j])) * F(x[i][j]) for j in range(c))
            pos = mp.fsum(F(y[i][j]) * F(x[i][j]) for j in range(c))
            return max(ZERO, neg - pos + 1)
        terms = mp_array((n,), lambda i: row(i[0]))
        floors = mp_array((n,), lambda i: 1 + max(abs((1 - F(y[i[0]][j])) * F(x[i[0]][j])) for j in range(c))
                          + mp.fsum(abs(F(y[i[0]][j]) * F(x[i[0]][j])) for j in range(c)))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_categorical_hinge_gradients_match_finite_differences(reduction):
    # rows away from ties and from the corner: a clear maximum of (1 - y) x, z far from 0
    x = np.array([[2.0, -1.0, 0.5], [0.3, 1.7, -2.0], [4.0, 0.1, 3.2]])
    for y in (np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
              np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.1, 0.1, 0.8]]),
              np.array([[-1.0, 1.0, -1.0], [1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])):
        assert_gradient_matches_differences("categorical_hinge", {"input": x, "target": y}, {}, reduction, ("input",))


def test_categorical_hinge_tie_and_corner():
    ev = reference.evaluate("categorical_hinge", {"input": np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 5.0]]),
                                                  "target": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])}, {}, "none")
    np.testing.assert_array_equal(ev.value, [2.0, 5.0])
    lo, hi = ev.grads["input"]
    np.testing.assert_array_equal(lo[0], [0.0, 0.0, -1.0])   # either tied wrong class, or any mix
    np.testing.assert_array_equal(hi[0], [1.0, 1.0, -1.0])
    np.testing.assert_array_equal(lo[1], hi[1])
    np.testing.assert_array_equal(lo[1], [0.0, -1.0, 1.0])
    corner = reference.evaluate("categorical_hinge", {"input": np.array([[-3.0, 1.0]]),
                                                      "target": np.array([[0.0, 1.0]])}, {}, "none")
    # neg = max(-3, 0 * 1) = 0 (the true class enters the max with weight 0), pos = 1: z = 0
    assert corner.value[0] == 0.0
    np.testing.assert_array_equal(corner.grads["input"][0], [[0.0, -1.0]])
    np.testing.assert_array_equal(corner.grads["input"][1], [[0.0, 0.0]])


def test_categorical_hinge_infinite_scores_and_nan_rows():
    x = np.array([[np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0], [0.0, 0.0, np.inf], [np.nan, 0.0, 1.0]])
    y = np.tile([0.0, 0.0, 1.0], (4, 1))
    ev = reference.evaluate("categorical_hinge", {"input": x, "target": y}, {}, "none")
    np.testing.assert_array_equal(ev.value, [np.inf, 0.0, 0.0, np.nan])
    lo, hi = ev.grads["input"]
    np.testing.assert_array_equal(lo[0], [1.0, 0.0, -1.0])
    np.testing.assert_array_equal(hi[2], [0.0, 0.0, 0.0])
    assert np.isnan(lo[3]).all() and np.isnan(hi[3]).all()


def test_categorical_hinge_refusals():
    with pytest.raises(reference.DomainError):
        reference.evaluate("categorical_hinge", {"input": np.zeros((2, 3)), "target": np.zeros((2, 2))}, {}, "mean")
    with pytest.raises(reference.DomainError):
        reference.evaluate("categorical_hinge", {"input": np.zeros((2, 0)), "target": np.zeros((2, 0))}, {}, "sum")


# -- multiclass hinge and perceptron (integer labels) ----------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from(["multiclass_hinge", "multiclass_perceptron"]),
       st.booleans())
def test_multiclass_losses_match_mpmath(data, reduction, loss, batched):
    n, c = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    x = _reals(data, (n, c))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    if not batched:
        x, labels = _reals(data, (c,)), np.array(data.draw(st.integers(0, c - 1)), dtype=np.int64)
    ev = reference.evaluate(loss, {"input": x, "target": labels}, {}, reduction)
    margin = 1 if loss == "multiclass_hinge" else 0

    def row(i):
        s, k = x[i], int(labels[i])
        # optax's form: max_j (s_j + margin - [j = k]) - s_k, in exact arithmetic
        return max(F(s[j]) + margin * (1 - (j == k)) for j in range(c)) - F(s[k])
    with mp.workdps(DPS):
        terms = mp_array(labels.shape, row)
        floors = mp_array(labels.shape, lambda i: 1 + max(abs(F(v)) for v in x[i]) + abs(F(x[i][int(labels[i])])))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["multiclass_hinge", "multiclass_perceptron"])
def test_multiclass_gradients_match_finite_differences(loss, reduction):
    x = np.array([[2.0, -1.0, 0.5], [0.3, 1.7, -2.0], [4.0, 0.1, 3.5], [0.0, 0.2, 0.1]])
    labels = np.array([1, 1, 2, 0])
    assert_gradient_matches_differences(loss, {"input": x, "target": labels}, {}, reduction, ("input",))


def test_multiclass_ties_give_the_hull():
    x = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    hinge = reference.evaluate("multiclass_hinge", {"input": x, "target": np.array([2, 2])}, {}, "none")
    np.testing.assert_array_equal(hinge.value, [1.0, 0.0])
    lo, hi = hinge.grads["input"]
    np.testing.assert_array_equal(lo, [[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    np.testing.assert_array_equal(hi, [[1.0, 1.0, -1.0], [0.0, 1.0, 0.0]])   # row 2: 1 + 1 - 2 = 0 ties the true class
    perceptron = reference.evaluate("multiclass_perceptron", {"input": x, "target": np.array([2, 2])}, {}, "none")
    np.testing.assert_array_equal(perceptron.value, [0.0, 0.0])
    np.testing.assert_array_equal(perceptron.grads["input"][0], [[0.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(perceptron.grads["input"][1], [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_multiclass_infinite_scores_have_their_limits():
    x = np.array([[np.inf, 0.0, 1.0], [0.0, 0.0, np.inf], [-np.inf, 0.0, 3.0], [np.nan, 0.0, 1.0]])
    ev = reference.evaluate("multiclass_hinge", {"input": x, "target": np.array([2, 2, 2, 2])}, {}, "none")
    np.testing.assert_array_equal(ev.value, [np.inf, 0.0, 0.0, np.nan])
    np.testing.assert_array_equal(ev.grads["input"][0][:3], [[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.isnan(ev.grads["input"][0][3]).all() and np.isnan(ev.grads["input"][1][3]).all()


def test_multiclass_refusals():
    x = np.zeros((3, 2))
    with pytest.raises(reference.DomainError) as info:
        reference.evaluate("multiclass_hinge", {"input": x, "target": np.array([0, 2, 1])}, {}, "mean")
    assert info.value.value_dependent
    with pytest.raises(reference.DomainError) as info:
        reference.evaluate("multiclass_perceptron", {"input": x, "target": np.array([0])}, {}, "mean")
    assert not info.value.value_dependent
    with pytest.raises(reference.DomainError):
        reference.evaluate("multiclass_hinge", {"input": x, "target": np.zeros(3)}, {}, "mean")
