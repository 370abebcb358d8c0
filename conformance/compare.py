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

import numpy as np

from .vocab.dtypes import round_to
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


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(j) for j in np.unravel_index(flat, shape)) if shape else ()


def _num(x: float) -> str:
    return f"{float(x):.9g}"
