"""Compare a framework's array with the oracle's: outcome and error in eps units.

``judge`` handles one array (a value or a gradient). Elementwise:
  * oracle NaN           -> the framework must give NaN;
  * oracle +-inf, or a finite exact value beyond the dtype's range (whose
    correctly rounded result is +-inf) -> the framework must give that inf;
  * otherwise the framework must be finite and within k * eps * scale of the
    interval [lo, hi] (a subdifferential, or one point).
Error in eps units: distance to [lo, hi] / (eps(dtype) * scale + tiny(dtype) / k),
so that agreement means distance <= k * eps * scale + tiny (tolerance.py). A
zero scale demands an exact result up to tiny (ignored targets: loss and
gradient exactly 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .vocab.dtypes import numpy_dtype, round_to
from .vocab.tolerance import Tolerance


@dataclass(frozen=True)
class Verdict:
    outcome: str
    error_eps: float          # worst finite error in units of eps(dtype) * scale (inf: unbounded)
    detail: str = ""
    at: tuple[int, ...] | None = None   # index of the worst (or first non-finite) element


def judge(lo: np.ndarray, hi: np.ndarray, scale: np.ndarray, actual: np.ndarray,
          tol: Tolerance) -> Verdict:
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    actual = np.asarray(actual, np.float64)
    if actual.shape != lo.shape:
        return Verdict("mismatch", math.inf, f"shape {actual.shape}, expected {lo.shape}")
    scale = np.broadcast_to(np.abs(np.asarray(scale, np.float64)), lo.shape)
    # A non-finite scale would accept any finite answer: for a finite expected
    # value (a limit at an infinite input) demand it exactly (up to tiny).
    scale = np.where(np.isfinite(scale), scale, 0.0)
    lo_d, hi_d = round_to(lo, tol.dtype), round_to(hi, tol.dtype)
    want_nan = np.isnan(lo) | np.isnan(hi)
    want_inf = ~want_nan & np.isinf(lo_d) & (lo_d == hi_d)
    want_finite = ~want_nan & ~want_inf
    bad_special = (want_nan & ~np.isnan(actual)) | (want_inf & (actual != lo_d)) | (
        want_finite & ~np.isfinite(actual))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        dist = np.where(want_finite & np.isfinite(actual),
                        np.maximum(np.maximum(lo - actual, actual - hi), 0.0), 0.0)
        units = np.where(dist == 0, 0.0, dist / (tol.eps * scale + tol.tiny / tol.k))
    units = np.where(np.isnan(units), math.inf, units)
    worst = float(units.max()) if units.size else 0.0
    if bad_special.any():
        i = _index(np.argmax(bad_special), lo.shape)
        return Verdict("nonfinite-mismatch", math.inf,
                       f"{int(bad_special.sum())} element(s) non-finite on one side only; at {i}: "
                       f"expected {_num(lo[i])}, got {_num(actual[i])}", i)
    if worst <= tol.k:
        return Verdict("agree", worst)
    i = _index(np.argmax(units), lo.shape)
    expected = _num(lo[i]) if lo[i] == hi[i] else f"[{_num(lo[i])}, {_num(hi[i])}]"
    return Verdict("mismatch", worst, f"at {i}: expected {expected}, got {_num(actual[i])}: "
                                      f"{worst:.3g} eps > {tol.k:g} (scale {_num(scale[i])})", i)


def ulps(lo: np.ndarray, hi: np.ndarray, actual: np.ndarray, dtype: str) -> float:
    """The worst error in ulps of the correctly rounded result: per element, the
    distance from the framework's value to the nearest point e of [lo, hi], in units
    of the spacing of ``dtype`` at e rounded to it. A correctly rounded result is at
    most 0.5 ulp off; a result rounded twice (computed in the dtype, step by step)
    typically more. NaN where NaN is due, and the due infinity, are 0; a non-finite
    value on one side only, or a shape other than the expected, is inf. (In float64
    the oracle's own rounding is of the same size: there the figure is indicative.)"""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    actual = np.asarray(actual, np.float64)
    if actual.shape != lo.shape:
        return math.inf
    if not lo.size:
        return 0.0
    info = ml_dtypes.finfo(numpy_dtype(dtype))
    with np.errstate(invalid="ignore", over="ignore"):
        nearest = np.clip(actual, np.minimum(lo, hi), np.maximum(lo, hi))
        nearest = np.where(np.isnan(nearest), lo, nearest)
        rounded = round_to(nearest, dtype)
        _, exponent = np.frexp(np.where(np.isfinite(rounded), np.abs(rounded), 0.0))
        lead = np.where(rounded == 0, info.minexp, np.maximum(exponent - 1, info.minexp))
        spacing = np.ldexp(1.0, lead - info.nmant)
        error = np.abs(actual - nearest) / spacing
    want_nan = np.isnan(lo) | np.isnan(hi)
    error = np.where(want_nan, np.where(np.isnan(actual), 0.0, math.inf), error)
    due_inf = ~want_nan & np.isinf(rounded)
    error = np.where(due_inf, np.where(actual == rounded, 0.0, math.inf), error)
    error = np.where(~want_nan & ~due_inf & ~np.isfinite(actual), math.inf, error)
    return float(np.max(error))


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(j) for j in np.unravel_index(flat, shape)) if shape else ()


def _num(x: float) -> str:
    return f"{float(x):.9g}"
