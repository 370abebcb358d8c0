"""The sparse family's oracle: sparsemax losses against mpmath (sparsemax found by
bisection on tau, the loss in Martins & Astudillo's closed form: an algorithm other
than the oracle's sort), gradients against finite differences, the unique gradient
at ties and support changes, limits, refusals and identities."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")
INF = float("inf")


def mp_sparse_plus(z: mp.mpf) -> mp.mpf:
    """jax.nn.sparse_plus as documented: 0, (z + 1)^2 / 4, z."""
    if z <= -1:
        return mp.mpf(0)
    if z >= 1:
        return z
    return (z + 1) ** 2 / 4


def mp_tau(z: list[mp.mpf]) -> mp.mpf:
    """The threshold of sparsemax: the root of sum(max(z_j - tau, 0)) = 1, by bisection
    on [max z - 1, max z] (the sum falls from >= 1 to 0 there)."""
    lo, hi = max(z) - 1, max(z)
    for _ in range(400):
        mid = (lo + hi) / 2
        if sum(max(v - mid, 0) for v in z) > 1:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mp_multiclass(z_row, y: int) -> tuple[mp.mpf, list[mp.mpf]]:
    """(loss, sparsemax) of one row: -z_y + 1/2 sum_{j in S} (z_j^2 - tau^2) + 1/2."""
    z = [F(v) for v in z_row]
    tau = mp_tau(z)
    p = [max(v - tau, 0) for v in z]
    loss = -z[y] + sum(v * v - tau * tau for v in z if v > tau) / 2 + mp.mpf(1) / 2
    return loss, p


# -- binary sparsemax --------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS))
def test_sparsemax_matches_mpmath(data, reduction):
    n = data.draw(st.integers(0, 6))
    logit = st.sampled_from([-1.0, 1.0, 0.0, -3.0, 2.5]) | st.floats(-1e3, 1e3, allow_nan=False)
    x = np.array(data.draw(st.lists(logit, min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    ev = reference.evaluate("sparsemax", {"logits": x, "labels": y}, {}, reduction)
    with mp.workdps(DPS):
        terms = mp_array(x.shape, lambda i: mp_sparse_plus(-F(x[i]) if y[i] == 1 else F(x[i])))
        floors = mp_array(x.shape, lambda i: abs(F(x[i])) + 1)
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sparsemax_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(1)
    x = np.array([-2.5, -0.7, -0.2, 0.4, 0.9, 1.6, -1.4, 0.3])   # off the junctions +-1
    y = rng.integers(0, 2, x.size).astype(float)
    assert_gradient_matches_differences("sparsemax", {"logits": x, "labels": y}, {}, reduction, ("logits",))


def test_sparsemax_is_continuously_differentiable_at_the_junctions():
    """At z = +-1 the one-sided derivatives agree: one gradient, sparse_sigmoid(x) - y."""
    x = np.array([-1.0, 1.0, -1.0, 1.0])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    ev = reference.evaluate("sparsemax", {"logits": x, "labels": y}, {}, "none")
    lo, hi = ev.grads["logits"]
    assert np.array_equal(lo, hi)
    np.testing.assert_array_equal(lo, [0.0, 1.0, -1.0, 0.0])
    h = 1e-7
    for i in range(4):
        def f(v, i=i):
            return float(reference.evaluate("sparsemax", {"logits": np.array([v]), "labels": y[i:i + 1]},
                                            {}, "sum").value)
        assert (f(x[i] + h) - f(x[i])) / h == pytest.approx(lo[i], abs=1e-6)
        assert (f(x[i]) - f(x[i] - h)) / h == pytest.approx(lo[i], abs=1e-6)


def test_sparsemax_takes_the_limits_at_infinite_logits_and_propagates_nan():
    x = np.array([INF, -INF, INF, -INF, np.nan])
    y = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    ev = reference.evaluate("sparsemax", {"logits": x, "labels": y}, {}, "none")
    np.testing.assert_array_equal(ev.value, [INF, 0.0, 0.0, INF, np.nan])
    np.testing.assert_array_equal(ev.grads["logits"][0], [1.0, 0.0, 0.0, -1.0, np.nan])


def test_sparsemax_refuses_soft_labels_and_mismatched_shapes():
    with pytest.raises(reference.DomainError) as soft:
        reference.evaluate("sparsemax", {"logits": np.zeros(2), "labels": np.array([0.5, 1.0])}, {}, "mean")
    assert soft.value.value_dependent
    with pytest.raises(reference.DomainError) as shapes:
        reference.evaluate("sparsemax", {"logits": np.zeros(3), "labels": np.ones(1)}, {}, "mean")
    assert not shapes.value.value_dependent


# -- multiclass sparsemax ----------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS))
def test_multiclass_sparsemax_matches_mpmath(data, reduction):
    n, c = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 5))
    mag = data.draw(st.sampled_from([1.0, 100.0, 1e6]))
    score = st.sampled_from([0.0, 1.0, -1.0, 0.5, mag]) | st.floats(-mag, mag, allow_nan=False)  # ties
    z = np.array(data.draw(st.lists(st.lists(score, min_size=c, max_size=c), min_size=n, max_size=n))).reshape(n, c)
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    ev = reference.evaluate("multiclass_sparsemax", {"scores": z, "labels": y}, {}, reduction)
    with mp.workdps(DPS):
        terms = mp_array((n,), lambda i: mp_multiclass(z[i], int(y[i]))[0])
        floors = mp_array((n,), lambda i: 1 + abs(F(z[i].max())) + abs(F(z[i][y[i]])))
    assert_round_off(ev, terms, floors, reduction)


def test_multiclass_sparsemax_gradient_is_sparsemax_minus_onehot_at_ties():
    """Ties and scores exactly where the support changes (z_j = tau): sparsemax is
    continuous there, so the gradient p - onehot(y) is unique (bounds equal) and both
    one-sided differences converge to it."""
    z = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.5, 0.5, 0.5], [2.0, 2.0, 0.0], [0.0, 0.0, -1.0]])
    y = np.array([0, 1, 2, 2, 0])
    ev = reference.evaluate("multiclass_sparsemax", {"scores": z, "labels": y}, {}, "sum")
    lo, hi = ev.grads["scores"]
    assert np.array_equal(lo, hi)
    with mp.workdps(DPS):
        for i in range(len(y)):
            p = mp_multiclass(z[i], int(y[i]))[1]
            want = [float(v) - (1.0 if j == y[i] else 0.0) for j, v in enumerate(p)]
            np.testing.assert_allclose(lo[i], want, atol=1e-15)
    h = 1e-7
    for i, j in np.ndindex(z.shape):
        def f(v, i=i, j=j):
            row = z[i:i + 1].copy()
            row[0, j] = v
            return float(reference.evaluate("multiclass_sparsemax", {"scores": row, "labels": y[i:i + 1]},
                                            {}, "sum").value)
        assert (f(z[i, j] + h) - f(z[i, j])) / h == pytest.approx(lo[i, j], abs=1e-6)
        assert (f(z[i, j]) - f(z[i, j] - h)) / h == pytest.approx(lo[i, j], abs=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multiclass_sparsemax_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(7)
    rows = []
    while len(rows) < 6:       # away from the support changes: no score within 0.05 of tau
        row = rng.uniform(-1.5, 1.5, 4)
        if np.min(np.abs(row - float(mp_tau([F(v) for v in row])))) > 0.05:
            rows.append(row)
    z = np.array(rows)
    y = rng.integers(0, 4, 6)
    assert np.count_nonzero(reference.evaluate("multiclass_sparsemax", {"scores": z, "labels": y}, {},
                                               "none").grads["scores"][0] + np.eye(4)[y]) > 6  # supports > 1
    assert_gradient_matches_differences("multiclass_sparsemax", {"scores": z, "labels": y}, {}, reduction, ("scores",))


def test_multiclass_sparsemax_with_two_classes_is_the_binary_loss():
    """For C = 2, sparsemax is sparse_sigmoid of the difference: the multiclass loss of
    scores (0, x) and label y equals the binary loss of x and y."""
    x = np.array([-3.0, -1.0, -0.4, 0.0, 0.7, 1.0, 2.5])
    for label in (0, 1):
        two = reference.evaluate("multiclass_sparsemax", {"scores": np.stack([np.zeros_like(x), x], 1),
                                                          "labels": np.full(x.size, label)}, {}, "none")
        one = reference.evaluate("sparsemax", {"logits": x, "labels": np.full(x.size, float(label))}, {}, "none")
        np.testing.assert_allclose(two.value, one.value, atol=1e-15)
        np.testing.assert_allclose(two.grads["scores"][0][:, 1], one.grads["logits"][0], atol=1e-15)


def test_multiclass_sparsemax_is_shift_invariant_and_accurate_for_large_scores():
    z = np.array([[0.3, -0.2, 0.25], [67.53316498, -94.12670898, 67.0161438]])
    y = np.array([2, 1])
    base = reference.evaluate("multiclass_sparsemax", {"scores": z, "labels": y}, {}, "none")
    shifted = reference.evaluate("multiclass_sparsemax", {"scores": z + 1e6, "labels": y}, {}, "none")
    np.testing.assert_allclose(shifted.value, base.value, rtol=1e-9)
    with mp.workdps(DPS):
        exact = [mp_multiclass(z[i], int(y[i]))[0] for i in range(2)]
    np.testing.assert_allclose(base.value, [float(v) for v in exact], rtol=4e-16)


def test_multiclass_sparsemax_takes_the_limits_at_infinite_scores():
    z = np.array([[INF, 0.0, 0.0], [INF, 0.0, 0.0], [-INF, 0.0, 0.0], [-INF, 0.0, 0.0], [INF, INF, 0.0]])
    y = np.array([0, 1, 0, 1, 0])
    ev = reference.evaluate("multiclass_sparsemax", {"scores": z, "labels": y}, {}, "none")
    np.testing.assert_array_equal(ev.value, [0.0, INF, INF, 0.25, 0.25])
    np.testing.assert_array_equal(ev.grads["scores"][0], [[0, 0, 0], [1, -1, 0], [-1, 0.5, 0.5],
                                                          [0, -0.5, 0.5], [-0.5, 0.5, 0]])


def test_multiclass_sparsemax_nan_spoils_only_its_row():
    ev = reference.evaluate("multiclass_sparsemax", {"scores": np.array([[np.nan, 0.0, 1.0], [0.0, 1.0, 2.0]]),
                                                     "labels": np.array([1, 2])}, {}, "none")
    assert np.isnan(ev.value[0]) and np.isnan(ev.grads["scores"][0][0]).all()
    assert ev.value[1] == 0.0 and np.all(ev.grads["scores"][0][1] == 0.0)


def test_multiclass_sparsemax_of_an_empty_batch():
    args = {"scores": np.zeros((0, 3)), "labels": np.zeros(0, np.int64)}
    assert reference.evaluate("multiclass_sparsemax", args, {}, "sum").value == 0.0
    assert np.isnan(reference.evaluate("multiclass_sparsemax", args, {}, "mean").value)


@pytest.mark.parametrize("labels, value_dependent", [(np.array([2, 0]), True), (np.array([-1, 0]), True),
                                                     (np.array([0.0, 1.0]), False), (np.array([0]), False)])
def test_multiclass_sparsemax_refuses_bad_labels(labels, value_dependent):
    with pytest.raises(reference.DomainError) as refused:
        reference.evaluate("multiclass_sparsemax", {"scores": np.zeros((2, 2)), "labels": labels}, {}, "mean")
    assert refused.value.value_dependent == value_dependent


def test_multiclass_sparsemax_refuses_unbatched_scores():
    with pytest.raises(reference.DomainError):
        reference.evaluate("multiclass_sparsemax", {"scores": np.zeros(3), "labels": np.array(1)}, {}, "mean")
