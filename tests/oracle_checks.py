"""Checks of the oracle shared by the tests of every loss family: its gradients
against Richardson-extrapolated finite differences of its own value, and its
values against an exact mpmath computation written from the documented formula.

Gradients: ``grads[name]`` is the gradient of ``sum(value)``; the differenced
function is ``sum(evaluate(...).value)``; points must be away from kinks and
domain edges (step h = 2^-10 (1 + |x|), truncation O(h^4), round-off O(eps/h)).

Values: the oracle must agree to float64 round-off, |oracle - exact| <=
64 eps (|exact| + floor), floor the magnitude of what the formula adds up.
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np

import reference

RTOL = 1e-6
EPS = 2.0 ** -52
K = 64
TINY = 2.0 ** -1022
DPS = 50


def summed(loss, arrays, params, reduction, policies=None) -> float:
    return float(np.sum(reference.evaluate(loss, arrays, params, reduction, policies).value))


def richardson(f, x: np.ndarray) -> np.ndarray:
    """df/dx entrywise: (4 D(h/2) - D(h)) / 3 with D the central difference."""
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        def central(h):
            up, down = x.copy(), x.copy()
            up[idx] += h
            down[idx] -= h
            return (f(up) - f(down)) / (up[idx] - down[idx])
        h = 2.0 ** -10 * (1 + abs(x[idx]))
        out[idx] = (4 * central(h / 2) - central(h)) / 3
    return out


def assert_gradient_matches_differences(loss, arrays, params, reduction, wrt, policies=None):
    ev = reference.evaluate(loss, arrays, params, reduction, policies)
    for name in wrt:
        lo, hi = ev.grads[name]
        assert np.array_equal(lo, hi), f"{name}: bounds differ at a differentiable point"
        assert lo.shape == arrays[name].shape

        def f(v, name=name):
            return summed(loss, arrays | {name: v}, params, reduction, policies)
        fd = richardson(f, arrays[name])
        atol = RTOL * 1e-3 * max(1.0, float(np.max(np.abs(lo))))
        np.testing.assert_allclose(lo, fd, rtol=RTOL, atol=atol, err_msg=f"d/d{name} of {loss} {params}")


def F(x) -> mp.mpf:
    """The exact value of a float64 (mpf conversion of a binary float is exact)."""
    return mp.mpf(float(x))


def assert_round_off(ev, terms: np.ndarray, floors: np.ndarray, reduction: str, denominator=None):
    """``terms``/``floors``: object arrays of mpf (exact unreduced loss, magnitude of its summands)."""
    with mp.workdps(DPS):
        if reduction == "none":
            assert ev.value.shape == terms.shape
            pairs = list(zip(ev.value.ravel(), terms.ravel(), floors.ravel()))
        else:
            assert ev.value.shape == ()
            total, floor = mp.fsum(terms.ravel()), mp.fsum(floors.ravel())
            if reduction == "mean":
                den = mp.mpf(terms.size) if denominator is None else denominator
                if den == 0:  # a mean over nothing is 0/0
                    assert np.isnan(ev.value), f"mean over no counted rows gave {ev.value!r}, not NaN"
                    return
                total, floor = total / den, floor / abs(den)
            pairs = [(ev.value[()], total, floor)]
        for got, want, floor in pairs:
            got = float(got)
            assert math.isfinite(got), f"oracle gave {got!r}, exact is {mp.nstr(want, 17)}"
            err = abs(F(got) - want)
            bound = K * EPS * (abs(want) + floor) + TINY
            assert err <= bound, (f"oracle {got!r} vs exact {mp.nstr(want, 25)}: "
                                  f"error {mp.nstr(err, 3)} > bound {mp.nstr(bound, 3)}")


def mp_array(shape, fn):
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = fn(idx)
    return out


def magnitude(terms: np.ndarray) -> np.ndarray:
    """|t| elementwise, kept an object array (np.abs of a 0-d one is a scalar)."""
    return mp_array(terms.shape, lambda i: abs(terms[i]))
