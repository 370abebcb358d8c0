"""The float64 oracle against each loss's formula evaluated independently in mpmath at 50 digits.

Every exact value is written here from the documented definition (torch.nn docs and the
oracle's docstrings), never from the oracle's code. The oracle must agree to float64
round-off: |oracle - exact| <= 64 eps (|exact| + floor), where floor is the magnitude of
what the formula adds up (so cancellation is allowed for, and nothing looser), plus the
float64 underflow threshold as an absolute allowance for squares of tiny differences.
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import reference

from oracle_checks import DPS, EPS, K, TINY, F, assert_round_off, magnitude, mp_array  # noqa: F401

REDUCTIONS = ("none", "sum", "mean")
SETTINGS = settings(max_examples=40, deadline=None)


# ---------------------------------------------------------------- regression

def regression_term(loss: str, d: mp.mpf, param: float) -> mp.mpf:
    a = abs(d)
    if loss == "l1" or (loss == "smooth_l1" and param == 0):
        return a
    if loss == "mse":
        return d * d
    b = F(param)
    if loss == "smooth_l1":  # 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta
        return d * d / (2 * b) if a < b else a - b / 2
    return d * d / 2 if a <= b else b * (a - b / 2)  # huber


PARAM = {"l1": st.just(None), "mse": st.just(None),
         "smooth_l1": st.sampled_from([1.0, 0.25, 3.0, 1e-3, 0.0]),
         "huber": st.sampled_from([1.0, 0.5, 2.5, 1e-3, 40.0])}


def offsets(boundary):
    near = [0.0, 2.0 ** -1074, 1e-300, 1e-8]
    if boundary:
        near += [boundary * (1 + k * EPS) for k in (-3, -1, 0, 1, 3)] + [boundary * (1 + 1e-9)]
    near += [-v for v in near]
    return st.one_of(st.floats(-100, 100), st.sampled_from(near))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["l1", "mse", "smooth_l1", "huber"])
@SETTINGS
@given(data=st.data())
def test_regression_loss_equals_its_formula_to_round_off(loss, reduction, data):
    param = data.draw(PARAM[loss], label="beta/delta")
    shape = data.draw(st.sampled_from([(1,), (3,), (7,), (2, 3)]), label="shape")
    target = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-100, 100)), label="target")
    off = data.draw(hnp.arrays(np.float64, shape, elements=offsets(param)), label="offset")
    x = target + off
    params = {} if param is None else {"beta" if loss == "smooth_l1" else "delta": param}
    ev = reference.evaluate(loss, {"input": x, "target": target}, params, reduction)
    with mp.workdps(DPS):
        terms = mp_array(shape, lambda i: regression_term(loss, F(x[i]) - F(target[i]), param))
        assert_round_off(ev, terms, magnitude(terms), reduction)


# ---------------------------------------------------------------- binary

PROBS = st.one_of(st.floats(0, 1, exclude_min=True, exclude_max=True),
                  st.sampled_from([1e-12, 1 - 1e-12, 1e-300, 2.0 ** -1074, 1 - 2.0 ** -53, 0.5]))
TARGETS = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 1e-12, 1 - 1e-12]))
LOGITS = st.one_of(st.floats(-50, 50), st.sampled_from([-50.0, 50.0, 0.0, 36.75, -36.75, 1e-300, -1e-8]))
SHAPES = st.sampled_from([(1,), (4,), (2, 3)])


def draw_broadcast(data, shape, label, elements):
    """None, or an array of one of the shapes torch broadcasts onto the input."""
    wshape = data.draw(st.sampled_from([None, shape, shape[-1:], (1,)]), label=label + " shape")
    return None if wshape is None else data.draw(hnp.arrays(np.float64, wshape, elements=elements), label=label)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the oracle's 1 / (tiny x)
@pytest.mark.parametrize("policy", [None, {"log_floor": -100.0}, {"prob_clip": 1e-7}],
                         ids=["no_policy", "torch_log_floor", "keras_prob_clip"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_bce_equals_its_formula_to_round_off(reduction, policy, data):
    shape = data.draw(SHAPES, label="shape")
    x = data.draw(hnp.arrays(np.float64, shape, elements=PROBS), label="input")
    y = data.draw(hnp.arrays(np.float64, shape, elements=TARGETS), label="target")
    w = draw_broadcast(data, shape, "weight", st.floats(0, 4))
    arrays = {"input": x, "target": y} | ({} if w is None else {"weight": w})
    ev = reference.evaluate("bce", arrays, {}, reduction, policy)
    policy = policy or {}
    wb = np.ones(shape) if w is None else np.broadcast_to(w, shape)

    def term(i):  # -w [y log x + (1 - y) log(1 - x)], 0 log 0 = 0
        p = F(x[i])
        if "prob_clip" in policy:
            c = policy["prob_clip"]
            p = min(max(p, F(c)), F(1.0 - c))
        lx, l1x = mp.log(p), mp.log1p(-p)
        if "log_floor" in policy:
            lx, l1x = max(lx, F(policy["log_floor"])), max(l1x, F(policy["log_floor"]))
        t, s = F(y[i]), mp.mpf(0)
        if t != 0:
            s += t * lx
        if t != 1:
            s += (1 - t) * l1x
        return -F(wb[i]) * s
    with mp.workdps(DPS):
        terms = mp_array(shape, term)
        assert_round_off(ev, terms, magnitude(terms), reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_bce_with_logits_equals_its_formula_to_round_off(reduction, data):
    shape = data.draw(SHAPES, label="shape")
    x = data.draw(hnp.arrays(np.float64, shape, elements=LOGITS), label="input")
    y = data.draw(hnp.arrays(np.float64, shape, elements=TARGETS), label="target")
    w = draw_broadcast(data, shape, "weight", st.floats(0, 4))
    pw = data.draw(st.none() | hnp.arrays(np.float64, shape[-1:], elements=st.floats(0, 10)), label="pos_weight")
    arrays = {"input": x, "target": y}
    arrays |= ({} if w is None else {"weight": w}) | ({} if pw is None else {"pos_weight": pw})
    ev = reference.evaluate("bce_with_logits", arrays, {}, reduction)
    wb = np.ones(shape) if w is None else np.broadcast_to(w, shape)
    pb = np.ones(shape) if pw is None else np.broadcast_to(pw, shape)

    def term(i):  # w [p y log(1 + e^-x) + (1 - y) log(1 + e^x)]
        z, t = F(x[i]), F(y[i])
        return F(wb[i]) * (F(pb[i]) * t * mp.log1p(mp.exp(-z)) + (1 - t) * mp.log1p(mp.exp(z)))
    with mp.workdps(DPS):
        terms = mp_array(shape, term)
        assert_round_off(ev, terms, magnitude(terms), reduction)


# ---------------------------------------------------------------- multi-class

@st.composite
def class_layout(draw):
    """(classes, input shape, target shape): unbatched (C,), (N, C), (N, C, d1), (N, C, d1, d2)."""
    c = draw(st.integers(1, 4))
    lead = draw(st.sampled_from([(), (3,), (2, 3), (2, 2, 2), (1,)]))
    return c, ((c,) if lead == () else (lead[0], c, *lead[1:])), lead


def row(x: np.ndarray, lead_idx: tuple) -> np.ndarray:
    return x if not lead_idx else x[(lead_idx[0], slice(None), *lead_idx[1:])]


def draw_class_case(data, probabilities: bool):
    c, shape, lead = data.draw(class_layout(), label="layout")
    x = data.draw(hnp.arrays(np.float64, shape, elements=LOGITS), label="input")
    w = data.draw(st.none() | hnp.arrays(np.float64, (c,), elements=st.floats(0.125, 4)), label="weight")
    ignore = data.draw(st.sampled_from([-100, -1, 0, 2]), label="ignore_index")
    if probabilities:
        t = data.draw(hnp.arrays(np.float64, shape, elements=TARGETS), label="target")
    else:
        cls = st.one_of(st.integers(0, c - 1), st.just(ignore))
        t = data.draw(hnp.arrays(np.int64, lead, elements=cls), label="target")
    return c, x, w, ignore, t, lead


@pytest.mark.parametrize("targets", ["class_indices", "probabilities"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_cross_entropy_equals_its_formula_to_round_off(reduction, targets, data):
    probabilities = targets == "probabilities"
    c, x, w, ignore, t, lead = draw_class_case(data, probabilities)
    eps = data.draw(st.one_of(st.sampled_from([0.0, 0.1, 1.0]), st.floats(0, 1)), label="label_smoothing")
    arrays = {"input": x, "target": t} | ({} if w is None else {"weight": w})
    params = {"label_smoothing": eps} | ({} if probabilities else {"ignore_index": ignore})
    ev = reference.evaluate("cross_entropy", arrays, params, reduction)
    wc = [mp.mpf(1)] * c if w is None else [F(v) for v in w]
    with mp.workdps(DPS):
        e = F(eps)

        def q(i, k):  # smoothed target distribution of row i
            if probabilities:
                return (1 - e) * F(row(t, i)[k]) + e / c
            return (1 - e) * (1 if k == t[i] else 0) + e / c

        def term_and_floor(i):  # -sum_c w_c q_c (x_c - log sum_j exp x_j)
            if not probabilities and t[i] == ignore:
                return mp.mpf(0), mp.mpf(0)
            xs = [F(v) for v in row(x, i)]
            lse = mp.log(mp.fsum(mp.exp(v) for v in xs))
            wq = [wc[k] * q(i, k) for k in range(c)]
            return (-mp.fsum(wq[k] * (xs[k] - lse) for k in range(c)),
                    mp.fsum(abs(wq[k]) * (abs(xs[k]) + abs(lse) + 1) for k in range(c)))
        pairs = mp_array(lead, term_and_floor)
        terms = mp_array(lead, lambda i: pairs[i][0])
        floors = mp_array(lead, lambda i: pairs[i][1])
        if probabilities:
            den = mp.mpf(max(1, int(np.prod(lead))))
        else:
            den = mp.fsum(wc[int(k)] for k in t.ravel() if k != ignore)
        assert_round_off(ev, terms, floors, reduction, den)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_nll_equals_its_formula_to_round_off(reduction, data):
    c, x, w, ignore, t, lead = draw_class_case(data, probabilities=False)
    arrays = {"input": x, "target": t} | ({} if w is None else {"weight": w})
    ev = reference.evaluate("nll", arrays, {"ignore_index": ignore}, reduction)
    wc = [mp.mpf(1)] * c if w is None else [F(v) for v in w]
    with mp.workdps(DPS):
        terms = mp_array(lead, lambda i: mp.mpf(0) if t[i] == ignore else -wc[t[i]] * F(row(x, i)[t[i]]))
        den = mp.fsum(wc[int(k)] for k in t.ravel() if k != ignore)
        assert_round_off(ev, terms, magnitude(terms), reduction, den)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
def test_when_every_row_is_ignored_mean_is_nan_sum_is_zero_and_terms_are_zero(loss):
    x = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    arrays = {"input": x, "target": np.array([-1, -1]), "weight": np.array([1.0, 2.0, 3.0])}
    params = {"ignore_index": -1} | ({"label_smoothing": 0.2} if loss == "cross_entropy" else {})
    assert np.isnan(reference.evaluate(loss, arrays, params, "mean").value)
    assert reference.evaluate(loss, arrays, params, "sum").value == 0.0
    assert np.array_equal(reference.evaluate(loss, arrays, params, "none").value, [0.0, 0.0])
