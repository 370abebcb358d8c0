"""The keras_regression family's oracle: values against mpmath (each formula written
again from the Keras / optax docs and Salehi et al.), gradients against finite
differences (and mpmath's own differentiation where differences lose the digits),
the limits at infinity, the kinks, the policy knobs, refusals."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")


def _arrays(data, shape, lo, hi):
    values = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    n = int(np.prod(shape))
    return np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64).reshape(shape)


def _shape(data, min_dims=0):
    return tuple(data.draw(st.lists(st.integers(0, 4), min_size=min_dims, max_size=3)))


# -- log_cosh -------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from([1e-9, 1.0, 30.0, 1e3]))
def test_log_cosh_matches_mpmath(data, reduction, magnitude):
    shape = _shape(data)
    x, y = _arrays(data, shape, -magnitude, magnitude), _arrays(data, shape, -magnitude, magnitude)
    ev = reference.evaluate("log_cosh", {"input": x, "target": y}, {}, reduction)
    with mp.workdps(DPS + 650):   # cosh(d) = 1 + d^2/2 must keep d down to 1e-308
        d = mp_array(shape, lambda i: F(x[i]) - F(y[i]))
        terms = mp_array(shape, lambda i: mp.log(mp.cosh(d[i])))
        # x - y is rounded once in float64: its error moves the value by |tanh d| eps |d|
        floors = mp_array(shape, lambda i: abs(mp.tanh(d[i])) * abs(d[i]))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_log_cosh_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-4, 4, (2, 3)), rng.uniform(-4, 4, (2, 3))
    assert_gradient_matches_differences("log_cosh", {"input": x, "target": y}, {}, reduction, ("input", "target"))


def test_log_cosh_at_infinity_is_infinite_with_the_limiting_slope():
    ev = reference.evaluate("log_cosh", {"input": np.array([np.inf, -np.inf, np.nan, 800.0]),
                                         "target": np.zeros(4)}, {}, "none")
    assert ev.value[0] == np.inf and ev.value[1] == np.inf and np.isnan(ev.value[2])
    assert ev.value[3] == pytest.approx(800.0 - np.log(2.0), rel=1e-15)   # cosh(800) overflows
    assert list(ev.grads["input"][0][[0, 1, 3]]) == [1.0, -1.0, 1.0] and np.isnan(ev.grads["input"][0][2])


# -- mape -------------------------------------------------------------------------------
def _nonzero(data, shape, magnitude):
    y = _arrays(data, shape, -magnitude, magnitude)
    return np.where(np.abs(y) < 1e-3 * magnitude, magnitude, y)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from([1e-6, 1.0, 1e4]))
def test_mape_matches_mpmath(data, reduction, magnitude):
    shape = _shape(data)
    x, y = _arrays(data, shape, -magnitude, magnitude), _nonzero(data, shape, magnitude)
    ev = reference.evaluate("mape", {"input": x, "target": y}, {}, reduction)
    with mp.workdps(DPS):
        terms = mp_array(shape, lambda i: 100 * abs(F(x[i]) - F(y[i])) / abs(F(y[i])))
        floors = mp_array(shape, lambda i: mp.mpf(0))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("epsilon", [0.0, 1e-7])
def test_mape_gradients_match_finite_differences(reduction, epsilon):
    rng = np.random.default_rng(2)
    y = rng.choice([-1.0, 1.0], 6) * rng.uniform(0.5, 3.0, 6)
    x = y + rng.choice([-1.0, 1.0], 6) * rng.uniform(0.2, 2.0, 6)   # away from the kink x = y
    assert_gradient_matches_differences("mape", {"input": x, "target": y}, {}, reduction, ("input", "target"),
                                        {"epsilon": epsilon})


def test_mape_at_a_zero_target_is_the_limit_or_nan():
    ev = reference.evaluate("mape", {"input": np.array([2.0, 0.0]), "target": np.zeros(2)}, {}, "none")
    assert ev.value[0] == np.inf and np.isnan(ev.value[1])
    assert ev.grads["input"][0][0] == np.inf and np.isnan(ev.grads["input"][0][1])
    assert np.isnan(ev.grads["target"][0]).all()


def test_mape_at_an_infinite_target_is_the_limit_100():
    ev = reference.evaluate("mape", {"input": np.array([3.0]), "target": np.array([-np.inf])}, {}, "none")
    assert ev.value[0] == 100.0 and ev.grads["input"][0][0] == 0.0 and ev.grads["target"][0][0] == 0.0


def test_mape_kink_has_the_whole_segment():
    ev = reference.evaluate("mape", {"input": np.array([-4.0]), "target": np.array([-4.0])}, {}, "sum")
    assert (ev.grads["input"][0][0], ev.grads["input"][1][0]) == (-25.0, 25.0)
    assert (ev.grads["target"][0][0], ev.grads["target"][1][0]) == (-25.0, 25.0)


def test_mape_keras_epsilon_divides_by_it():
    ev = reference.evaluate("mape", {"input": np.array([2.0, 0.0]), "target": np.array([0.0, -5e-8])},
                            {}, "none", {"epsilon": 1e-7})
    np.testing.assert_allclose(ev.value, [2e9, 50.0], rtol=1e-15)
    # |y| < epsilon: the clipped denominator does not move with y
    np.testing.assert_allclose(ev.grads["target"][0], [-1e9, -1e9], rtol=1e-15)


def test_mape_in_float16_keeps_a_subnormal_target_finite():
    """The oracle's formula run in float16 (the numpy baseline): 100 |0 - y| / |y| = 100
    for any y, derivative 0 in y; 100 / |y| alone would overflow."""
    y = np.array([-6e-8], dtype=np.float16)
    ev = reference.call("mape", {"input": np.zeros(1, np.float16), "target": y}, {}, "none")
    assert ev.value[0] == 100.0 and ev.grads["target"][0][0] == 0.0


# -- msle -------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.sampled_from([(-0.99, 1.0), (0.0, 1e3), (1e-12, 1e-6)]))
def test_msle_matches_mpmath(data, reduction, bounds):
    shape = _shape(data)
    x, y = _arrays(data, shape, *bounds), _arrays(data, shape, *bounds)
    ev = reference.evaluate("msle", {"input": x, "target": y}, {}, reduction)
    with mp.workdps(DPS + 330):   # 1 + x must keep x down to 1e-308
        r = mp_array(shape, lambda i: mp.log(1 + F(x[i])) - mp.log(1 + F(y[i])))
        terms = mp_array(shape, lambda i: r[i] ** 2)
        floors = mp_array(shape, lambda i: abs(r[i]) * (abs(mp.log(1 + F(x[i]))) + abs(mp.log(1 + F(y[i])))))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("clip_min", [None, float(np.float32(1e-7))])
def test_msle_gradients_match_finite_differences(reduction, clip_min):
    rng = np.random.default_rng(3)
    lo = -0.9 if clip_min is None else 0.1
    x, y = rng.uniform(lo, 20, (2, 4)), rng.uniform(lo, 20, (2, 4))
    assert_gradient_matches_differences("msle", {"input": x, "target": y}, {}, reduction, ("input", "target"),
                                        {"clip_min": clip_min})


def test_msle_outside_the_domain_and_at_infinity():
    ev = reference.evaluate("msle", {"input": np.array([-1.0, -2.0, np.inf]), "target": np.zeros(3)}, {}, "none")
    assert ev.value[0] == np.inf and np.isnan(ev.value[1]) and ev.value[2] == np.inf
    assert ev.grads["input"][0][2] == 0.0        # the limit of 2 log(1 + x) / (1 + x)
    assert np.isnan(ev.grads["input"][0][1])


def test_msle_keras_clip_replaces_small_values():
    clip = float(np.float32(1e-7))
    x, y = np.array([-3.0, 0.0, clip]), np.array([1.0, 1.0, 1.0])
    ev = reference.evaluate("msle", {"input": x, "target": y}, {}, "none", {"clip_min": clip})
    want = (np.log1p(clip) - np.log(2.0)) ** 2
    np.testing.assert_allclose(ev.value, [want] * 3, rtol=1e-14)
    lo, hi = ev.grads["input"]
    assert lo[0] == hi[0] == 0.0 and lo[1] == hi[1] == 0.0
    assert lo[2] < 0.0 == hi[2]                   # at the clip: between 0 and the slope


# -- dice and tversky ----------------------------------------------------------------------
def _mp_sigmoid(z):
    return 1 / (1 + mp.exp(-z))


def _mp_overlap(x, y, from_logits):
    """Per sample (rows of the flattened trailing axes): TP, FP, FN, sum x, sum y."""
    rows = []
    for n in range(x.shape[0]):
        p = [(_mp_sigmoid(F(v)) if from_logits else F(v)) for v in x[n].ravel()]
        t = [F(v) for v in y[n].ravel()]
        tp = mp.fsum(a * b for a, b in zip(p, t))
        fp = mp.fsum(a * (1 - b) for a, b in zip(p, t))
        fn = mp.fsum((1 - a) * b for a, b in zip(p, t))
        rows.append((tp, fp, fn, mp.fsum(p), mp.fsum(t)))
    return rows


def _masks(data, from_logits):
    shape = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    x = _arrays(data, shape, -30.0, 30.0) if from_logits else _arrays(data, shape, 0.0, 1.0)
    y = np.round(_arrays(data, shape, 0.0, 1.0), data.draw(st.sampled_from([0, 3])))
    return x, y


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans(), st.sampled_from([0.0, 0.5, 2.0]))
def test_dice_matches_mpmath(data, reduction, from_logits, smooth):
    x, y = _masks(data, from_logits)
    params = {"smooth": smooth, "from_logits": from_logits}
    ev = reference.evaluate("dice", {"input": x, "target": y}, params, reduction)
    with mp.workdps(DPS):
        rows = _mp_overlap(x, y, from_logits)
        if any(p + t + smooth == 0 for _, _, _, p, t in rows):
            return   # 0/0: tested below
        terms = mp_array((len(rows),), lambda i: 1 - (2 * rows[i[0]][0] + smooth) / (rows[i[0]][3] + rows[i[0]][4] + smooth))
        floors = mp_array((len(rows),), lambda i: mp.mpf(1))
    assert_round_off(ev, terms, floors, reduction)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS), st.booleans(), st.floats(0, 1), st.floats(0, 1),
       st.sampled_from([0.0, 1.0]))
def test_tversky_matches_mpmath(data, reduction, from_logits, alpha, beta, smooth):
    x, y = _masks(data, from_logits)
    params = {"alpha": alpha, "beta": beta, "smooth": smooth, "from_logits": from_logits}
    ev = reference.evaluate("tversky", {"input": x, "target": y}, params, reduction)
    with mp.workdps(DPS):
        rows = _mp_overlap(x, y, from_logits)
        dens = [tp + F(alpha) * fp + F(beta) * fn + F(smooth) for tp, fp, fn, _, _ in rows]
        if any(abs(d) < mp.mpf(2) ** -20 for d in dens):
            return   # (nearly) 0/0
        terms = mp_array((len(rows),), lambda i: 1 - (rows[i[0]][0] + F(smooth)) / dens[i[0]])
        floors = mp_array((len(rows),), lambda i: 1 + (rows[i[0]][0] + 1) / dens[i[0]])
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss, params", [
    ("dice", {}), ("dice", {"smooth": 0.7}), ("dice", {"from_logits": True, "smooth": 0.25}),
    ("tversky", {"alpha": 0.3, "beta": 0.9}), ("tversky", {"alpha": 1.0, "beta": 0.0, "smooth": 1.0}),
    ("tversky", {"alpha": 0.2, "beta": 0.6, "from_logits": True}),
])
def test_overlap_gradients_match_finite_differences(reduction, loss, params):
    rng = np.random.default_rng(4)
    x = rng.uniform(-3, 3, (3, 2, 2)) if params.get("from_logits") else rng.uniform(0.05, 0.95, (3, 2, 2))
    y = rng.uniform(0.0, 1.0, (3, 2, 2))
    assert_gradient_matches_differences(loss, {"input": x, "target": y}, params, reduction, ("input", "target"))
    assert_gradient_matches_differences(loss, {"input": x, "target": y}, params, reduction, ("input", "target"),
                                        {"eps": 1e-7})


@pytest.mark.parametrize("z", [25.0, 40.0, -60.0])
def test_dice_logit_gradient_keeps_its_digits_where_the_sigmoid_saturates(z):
    """Finite differences cannot see sigmoid'(40) = 4e-18; mpmath's differentiation can."""
    x, y = np.array([[z, 0.5]]), np.array([[1.0, 0.0]])
    ev = reference.evaluate("dice", {"input": x, "target": y}, {"from_logits": True}, "sum")

    def loss(v):
        p, q = _mp_sigmoid(v), _mp_sigmoid(mp.mpf(0.5))
        return 1 - 2 * p / (p + q + 1)
    with mp.workdps(DPS):
        exact = mp.diff(loss, F(z))
    assert abs(F(ev.grads["input"][0][0, 0]) - exact) <= 64 * 2.0 ** -52 * abs(exact)


def test_tversky_with_half_weights_is_dice_with_twice_the_smoothing():
    rng = np.random.default_rng(5)
    arrays = {"input": rng.uniform(0, 1, (4, 3)), "target": rng.integers(0, 2, (4, 3)).astype(float)}
    t = reference.evaluate("tversky", arrays, {"alpha": 0.5, "beta": 0.5, "smooth": 0.5}, "none")
    d = reference.evaluate("dice", arrays, {"smooth": 1.0}, "none")
    np.testing.assert_allclose(t.value, d.value, rtol=1e-14)
    np.testing.assert_allclose(t.grads["input"][0], d.grads["input"][0], rtol=1e-13, atol=1e-16)


def test_an_empty_overlap_is_nan_unless_smoothed_or_given_keras_epsilon():
    arrays = {"input": np.zeros((2, 3)), "target": np.zeros((2, 3))}
    assert np.isnan(reference.evaluate("dice", arrays, {}, "none").value).all()
    assert (reference.evaluate("dice", arrays, {"smooth": 1.0}, "none").value == 0.0).all()
    assert (reference.evaluate("dice", arrays, {}, "none", {"eps": 1e-7}).value == 1.0).all()
    assert (reference.evaluate("tversky", arrays, {"alpha": 0.3, "beta": 0.7}, "none", {"eps": 1e-7}).value == 1.0).all()


def test_tversky_alpha_weighs_the_false_positives():
    # TP = 1, FP = 2, FN = 1 (Salehi et al.: alpha on |P \\ G|, the false positives)
    arrays = {"input": np.array([[1.0, 0.0, 1.0, 1.0]]), "target": np.array([[1.0, 1.0, 0.0, 0.0]])}
    value = reference.evaluate("tversky", arrays, {"alpha": 1.0, "beta": 0.0}, "none").value
    assert value[0] == pytest.approx(2.0 / 3.0, rel=1e-15)


def test_an_unbatched_sample_is_one_scalar_term():
    rng = np.random.default_rng(6)
    x, y = rng.uniform(0, 1, 6), rng.uniform(0, 1, 6)
    one = reference.evaluate("dice", {"input": x, "target": y}, {}, "none").value
    batch = reference.evaluate("dice", {"input": x.reshape(1, 3, 2), "target": y.reshape(1, 3, 2)}, {}, "none").value
    assert one.shape == () and one == pytest.approx(batch[0], rel=1e-15)
    empty = reference.evaluate("dice", {"input": np.zeros((0, 2, 2)), "target": np.zeros((0, 2, 2))}, {}, "mean")
    assert np.isnan(empty.value)


@pytest.mark.parametrize("loss", ["log_cosh", "mape", "msle", "dice", "tversky"])
def test_unequal_shapes_are_refused(loss):
    with pytest.raises(reference.DomainError):
        reference.evaluate(loss, {"input": np.ones((3, 1)), "target": np.ones(3)}, {}, "mean")


def test_keras_policy_constants_are_as_the_dtype_holds_them():
    from adapters.tensorflow.recipes.keras_regression import POLICIES
    assert POLICIES["mape"].knobs_for("float16") == {"epsilon": float(np.float16(1e-7))}
    assert POLICIES["dice"].knobs_for("bfloat16")["eps"] != 1e-7       # rounded to bfloat16
    assert POLICIES["msle"].knobs_for("float16") == {"clip_min": float(np.float32(1e-7))}  # a float32 tensor
