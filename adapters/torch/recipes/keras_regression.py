"""PyTorch recipes of the keras_regression family: torch.nn has neither log-cosh, MAPE,
MSLE, Dice nor Tversky, so each is composed from torch primitives (the ``api`` string
is the migration guide). Unequal shapes are refused, as optax's own losses do, rather
than broadcast."""
from __future__ import annotations

import math
from typing import Any

from ...base import Recipe
from ..ops import Params, reduce as _reduce, Tensors, torch_module


def _pair(a: Tensors) -> tuple[Any, Any]:
    x, y = a["input"], a["target"]
    if x.shape != y.shape:
        raise ValueError(f"input shape {tuple(x.shape)} and target shape {tuple(y.shape)} differ")
    return x, y


def _log_cosh(a: Tensors, p: Params, r: str) -> Any:
    """log cosh d = log1p(2 sinh(d / 2)^2) for |d| < 1, accurate to the last bits where
    log cosh d ~ d^2 / 2; |d| + log1p(exp(-2 |d|)) - log 2 beyond (no overflow), whose
    three terms of size log 2 would cancel for a small d (absolute error eps(log 2))."""
    torch = torch_module()
    x, y = _pair(a)
    d = x - y
    ad = d.abs()
    small = ad < 1.0
    half = torch.where(small, d, torch.zeros_like(d)) / 2   # the unused branch sees 0: no inf * 0
    near = torch.log1p(2.0 * torch.sinh(half).square())
    far = ad + torch.log1p(torch.exp(-2.0 * ad)) - math.log(2.0)
    return _reduce(torch.where(small, near, far), r)


def _mape(a: Tensors, p: Params, r: str) -> Any:
    x, y = _pair(a)
    return _reduce(100.0 * (x - y).abs() / y.abs(), r)


def _msle(a: Tensors, p: Params, r: str) -> Any:
    x, y = _pair(a)
    return _reduce((x.log1p() - y.log1p()).square(), r)


def _sums(t: Any) -> Any:
    """Per-sample sums: over every dimension but the first, or over all (one sample).
    (torch.sum(t, dim=()) would sum over everything.)"""
    return t.sum(dim=tuple(range(1, t.dim()))) if t.dim() >= 2 else t.sum()


def _tversky_terms(a: Tensors, alpha: float, beta: float, smooth: float, from_logits: bool) -> Any:
    x, y = _pair(a)
    if from_logits:
        x = x.sigmoid()
    i = _sums(x * y)
    fp = _sums(x * (1.0 - y))
    fn = _sums((1.0 - x) * y)
    return 1.0 - (i + smooth) / (i + alpha * fp + beta * fn + smooth)


def _dice(a: Tensors, p: Params, r: str) -> Any:
    x, y = _pair(a)
    if p.get("from_logits", False):
        x = x.sigmoid()
    s = float(p.get("smooth", 0.0))
    return _reduce(1.0 - (2.0 * _sums(x * y) + s) / (_sums(x) + _sums(y) + s), r)


def _tversky(a: Tensors, p: Params, r: str) -> Any:
    return _reduce(_tversky_terms(a, float(p.get("alpha", 0.5)), float(p.get("beta", 0.5)),
                                  float(p.get("smooth", 0.0)), bool(p.get("from_logits", False))), r)


_PER_SAMPLE = ("sums over every dim but the first (all dims for an unbatched sample), "
               "x = torch.sigmoid(input) when from_logits")

RECIPES = {
    "log_cosh": Recipe(_log_cosh, "composed: torch.where(|d| < 1, torch.log1p(2 torch.sinh(d / 2) ** 2), "
                       "|d| + torch.log1p(torch.exp(-2 |d|)) - log 2), d = x - y (no overflow, and no "
                       "cancellation for a small d; F.softplus's threshold=20 linearisation is off by 2e-9)",
                       "composed"),
    "mape": Recipe(_mape, "composed: 100 * (x - y).abs() / y.abs() (no clip: +inf at y = 0; Keras "
                   "divides by max(|y|, 1e-7))", "composed"),
    "msle": Recipe(_msle, "composed: (torch.log1p(x) - torch.log1p(y)) ** 2 (no clip: NaN below -1; "
                   "Keras clips x and y at 1e-7)", "composed"),
    "dice": Recipe(_dice, "composed: 1 - (2 sum(x y) + smooth) / (sum(x) + sum(y) + smooth), "
                   + _PER_SAMPLE, "composed"),
    "tversky": Recipe(_tversky, "composed: 1 - (I + smooth) / (I + alpha FP + beta FN + smooth), "
                      "I = sum(x y), FP = sum(x (1 - y)), FN = sum((1 - x) y), " + _PER_SAMPLE,
                      "composed"),
}
POLICIES: dict = {}
