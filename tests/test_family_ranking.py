"""The ranking family's oracle: the listwise softmax loss against mpmath (formula
written from optax's documentation), gradients against finite differences, the
where mask against slicing, weights against scaled labels, one-hot labels against
cross-entropy, the limits and conventions (all-zero labels, masked infinities,
0 log 0, empty lists, a mean over no list), refusals."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")
INF = float("inf")


def mp_list_loss(s, y, valid, w) -> tuple[mp.mpf, mp.mpf]:
    """(-sum_valid w_i y_i log(e^{s_i} / sum_valid e^{s_j}), the magnitude of its summands)."""
    items = [i for i in range(len(s)) if valid[i]]
    if not items:
        return mp.mpf(0), mp.mpf(0)
    lse = mp.log(mp.fsum(mp.exp(F(s[i])) for i in items))
    loss = -mp.fsum(F(w[i]) * F(y[i]) * (F(s[i]) - lse) for i in items)
    floor = mp.fsum(abs(F(w[i]) * F(y[i])) * (abs(F(s[i])) + abs(lse) + 1) for i in items)
    return loss, floor


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans(), st.booleans())
def test_ranking_softmax_matches_mpmath(data, reduction, masked, weighted):
    n, size = data.draw(st.integers(0, 4)), data.draw(st.integers(0, 5))
    mag = data.draw(st.sampled_from([1.0, 30.0, 300.0]))
    logit = st.sampled_from([0.0, 1.0, -mag, mag]) | st.floats(-mag, mag, allow_nan=False)
    grid = lambda elements: np.array(data.draw(st.lists(st.lists(elements, min_size=size, max_size=size),  # noqa: E731
                                                        min_size=n, max_size=n))).reshape(n, size)
    s = grid(logit)
    y = grid(st.sampled_from([0.0, 1.0, 2.0]) | st.floats(0, 10))
    arrays = {"logits": s, "labels": y}
    where = grid(st.sampled_from([0.0, 1.0])) if masked else np.ones((n, size))
    w = grid(st.floats(0.125, 4.0)) if weighted else np.ones((n, size))
    if masked:
        arrays["where"] = where
    if weighted:
        arrays["weights"] = w
    ev = reference.evaluate("ranking_softmax", arrays, {}, reduction)
    with mp.workdps(DPS):
        pairs = [mp_list_loss(s[i], y[i], where[i] != 0, w[i]) for i in range(n)]
        terms = mp_array((n,), lambda i: pairs[i[0]][0])
        floors = mp_array((n,), lambda i: pairs[i[0]][1])
    counted = int(np.sum((where != 0).any(axis=1))) if masked else n
    assert_round_off(ev, terms, floors, reduction, denominator=mp.mpf(counted))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("variant", ["plain", "where", "weights"])
def test_ranking_softmax_gradients_match_finite_differences(reduction, variant):
    rng = np.random.default_rng(3)
    arrays = {"logits": rng.uniform(-3, 3, (4, 5)), "labels": rng.uniform(0, 3, (4, 5))}
    if variant == "where":
        arrays["where"] = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 0, 0]], float)
    if variant == "weights":
        arrays["weights"] = rng.uniform(0.125, 4, (4, 5))
    assert_gradient_matches_differences("ranking_softmax", arrays, {}, reduction, ("logits", "labels"))


def test_the_where_mask_equals_slicing_the_list():
    s = np.array([3.0, -1.0, 0.5, 2.0, 7.0])
    y = np.array([2.0, 1.0, 0.0, 3.0, 1.0])
    keep = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    masked = reference.evaluate("ranking_softmax", {"logits": s, "labels": y, "where": keep}, {}, "sum")
    sliced = reference.evaluate("ranking_softmax", {"logits": s[keep == 1], "labels": y[keep == 1]}, {}, "sum")
    assert masked.value == pytest.approx(float(sliced.value), rel=1e-15)
    np.testing.assert_allclose(masked.grads["logits"][0][keep == 1], sliced.grads["logits"][0], rtol=1e-15)
    assert np.all(masked.grads["logits"][0][keep == 0] == 0) and np.all(masked.grads["labels"][0][keep == 0] == 0)


def test_weights_multiply_the_labels():
    rng = np.random.default_rng(5)
    s, y, w = rng.normal(size=(3, 4)), rng.uniform(0, 2, (3, 4)), rng.uniform(0.125, 4, (3, 4))
    weighted = reference.evaluate("ranking_softmax", {"logits": s, "labels": y, "weights": w}, {}, "none")
    scaled = reference.evaluate("ranking_softmax", {"logits": s, "labels": w * y}, {}, "none")
    np.testing.assert_allclose(weighted.value, scaled.value, rtol=1e-14)
    np.testing.assert_allclose(weighted.grads["labels"][0], w * scaled.grads["labels"][0], rtol=1e-14)


def test_one_hot_labels_give_the_cross_entropy():
    rng = np.random.default_rng(9)
    s, t = rng.normal(size=(4, 5)) * 5, np.array([0, 3, 4, 1])
    ranking = reference.evaluate("ranking_softmax", {"logits": s, "labels": np.eye(5)[t]}, {}, "mean")
    ce = reference.evaluate("cross_entropy", {"input": s, "target": t}, {}, "mean")
    assert float(ranking.value) == pytest.approx(float(ce.value), rel=1e-14)
    np.testing.assert_allclose(ranking.grads["logits"][0], ce.grads["input"][0], atol=1e-16)


def test_labels_are_not_normalised_and_all_zero_labels_give_zero():
    s = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    once = reference.evaluate("ranking_softmax", {"logits": s[:1], "labels": np.array([[1.0, 0.0, 0.0]])}, {}, "sum")
    twice = reference.evaluate("ranking_softmax", {"logits": s[:1], "labels": np.array([[2.0, 0.0, 0.0]])}, {}, "sum")
    assert float(twice.value) == pytest.approx(2 * float(once.value), rel=1e-15)
    zero = reference.evaluate("ranking_softmax", {"logits": s, "labels": np.zeros((2, 3))}, {}, "none")
    assert np.all(zero.value == 0) and np.all(zero.grads["logits"][0] == 0)
    with mp.workdps(DPS):   # the label gradient is still -log p
        want = -(F(1) - mp.log(mp.exp(1) + mp.exp(2) + mp.exp(3)))
    assert zero.grads["labels"][0][0, 0] == pytest.approx(float(want), rel=1e-15)


def test_masked_items_with_infinite_or_nan_logits_are_ignored():
    s = np.array([[INF, 1.0, 2.0], [-INF, 0.0, 1.0], [np.nan, 3.0, 1.0]])
    y = np.array([[1.0, 1.0, 0.0], [2.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    where = np.array([[0.0, 1.0, 1.0]] * 3)
    masked = reference.evaluate("ranking_softmax", {"logits": s, "labels": y, "where": where}, {}, "none")
    dropped = reference.evaluate("ranking_softmax", {"logits": s[:, 1:], "labels": y[:, 1:]}, {}, "none")
    np.testing.assert_array_equal(masked.value, dropped.value)
    for name in ("logits", "labels"):
        np.testing.assert_array_equal(masked.grads[name][0][:, 1:], dropped.grads[name][0])
        assert np.all(masked.grads[name][0][:, 0] == 0)


def test_zero_label_at_minus_infinity_contributes_nothing():
    ev = reference.evaluate("ranking_softmax", {"logits": np.array([-INF, 0.0, 1.0]),
                                                "labels": np.array([0.0, 1.0, 2.0])}, {}, "sum")
    with mp.workdps(DPS):
        lse = mp.log(1 + mp.e)
        want = -(1 * (0 - lse) + 2 * (1 - lse))
    assert float(ev.value) == pytest.approx(float(want), rel=1e-15)
    assert ev.grads["logits"][0][0] == 0 and ev.grads["labels"][0][0] == INF


def test_a_valid_plus_infinity_takes_all_the_mass():
    ev = reference.evaluate("ranking_softmax", {"logits": np.array([INF, 0.0, 1.0]),
                                                "labels": np.array([1.0, 0.0, 2.0])}, {}, "sum")
    assert ev.value == INF
    np.testing.assert_array_equal(ev.grads["logits"][0], [2.0, 0.0, -2.0])
    only = reference.evaluate("ranking_softmax", {"logits": np.array([INF, 0.0]),
                                                  "labels": np.array([1.0, 0.0])}, {}, "sum")
    assert only.value == 0.0


def test_a_valid_nan_logit_spoils_its_list_even_with_zero_labels():
    ev = reference.evaluate("ranking_softmax", {"logits": np.array([[np.nan, 1.0], [0.0, 1.0]]),
                                                "labels": np.array([[0.0, 0.0], [1.0, 0.0]])}, {}, "none")
    assert np.isnan(ev.value[0]) and np.isfinite(ev.value[1])
    assert np.isnan(ev.grads["logits"][0][0]).all() and np.isfinite(ev.grads["logits"][0][1]).all()


def test_empty_lists_and_a_mean_over_no_list():
    empty_lists = {"logits": np.zeros((3, 0)), "labels": np.zeros((3, 0))}
    assert reference.evaluate("ranking_softmax", empty_lists, {}, "mean").value == 0.0
    no_list = {"logits": np.zeros((0, 3)), "labels": np.zeros((0, 3))}
    all_masked = {"logits": np.ones((2, 2)), "labels": np.ones((2, 2)), "where": np.zeros((2, 2))}
    for arrays in (no_list, all_masked):
        assert np.isnan(reference.evaluate("ranking_softmax", arrays, {}, "mean").value)
        assert reference.evaluate("ranking_softmax", arrays, {}, "sum").value == 0.0
        documented = reference.evaluate("ranking_softmax", arrays, {"mean_of_nothing": 0.0}, "mean")
        assert documented.value == 0.0 and documented.scale == 0.0
    one_list = {"logits": np.array([[1.0, 2.0], [3.0, 4.0]]), "labels": np.array([[1.0, 0.0], [0.0, 1.0]]),
                "where": np.array([[0.0, 0.0], [1.0, 1.0]])}
    mean = reference.evaluate("ranking_softmax", one_list, {"mean_of_nothing": 0.0}, "mean")
    assert float(mean.value) == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-15)   # / 1 list, not 2


@pytest.mark.parametrize("arrays", [
    {"logits": np.ones((2, 3)), "labels": np.ones(3)},
    {"logits": np.ones((2, 3)), "labels": np.ones((2, 3)), "where": np.ones((2, 1))},
    {"logits": np.ones((2, 3)), "labels": np.ones((2, 3)), "weights": np.ones(3)},
    {"logits": np.array(1.0), "labels": np.array(1.0)},
])
def test_ranking_softmax_refuses_mismatched_shapes(arrays):
    with pytest.raises(reference.DomainError) as refused:
        reference.evaluate("ranking_softmax", arrays, {}, "mean")
    assert not refused.value.value_dependent
