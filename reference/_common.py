"""What every oracle function returns, its errors, and the reduction (in one place).

The functions in this package are written dtype-generically: called through
``reference.evaluate`` they receive float64 arrays and are the oracle; the numpy
adapter calls the very same formulas on arrays of the test dtype to give the
"plain low-precision implementation" baseline. Python float literals are weak
under NumPy 2 promotion, so they never upcast a float32 computation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


class DomainError(ValueError):
    """The inputs lie outside the loss's documented domain: a conforming
    implementation must refuse them (or the suite reports error-mismatch).

    ``value_dependent`` marks refusals that depend on the array *values* (an
    out-of-range class index, a probability outside [0, 1]) rather than on
    shapes, dtypes or parameters: a framework that documents it cannot check
    values at run time (JAX) is excused only for those."""

    def __init__(self, message: str, *, value_dependent: bool = False) -> None:
        super().__init__(message)
        self.value_dependent = value_dependent


@dataclass(frozen=True)
class Evaluation:
    """Value of the loss and gradient of ``sum(value)`` for each differentiable
    argument.

    ``grads[name] = (lo, hi)``: elementwise bounds of the subdifferential; equal
    where the loss is differentiable. ``scale`` and ``grad_scales`` are the
    magnitudes of what was actually computed (same shapes as value / gradient):
    the tolerance is ``k * eps(dtype) * scale``.
    """
    value: np.ndarray
    scale: np.ndarray
    grads: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    grad_scales: Mapping[str, np.ndarray] = field(default_factory=dict)


def exact(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A gradient at a differentiable point: its subdifferential is one value."""
    return g, g


def times(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b with 0 * anything = 0: the convention 0 log 0 = 0 of the entropy, and
    a term with zero weight (an ignored row) contributes nothing, even if infinite."""
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(invalid="ignore"):
        return np.where(a == 0, np.zeros_like(b), a * b)


def summation_factor(n: int) -> float:
    """Rounding error of a (pairwise) sum of n terms grows like log2(n) * eps * sum|t|."""
    return 1.0 + math.log2(max(n, 1))


def reduce(
    terms: np.ndarray,
    scale: np.ndarray,
    grads: Mapping[str, tuple[np.ndarray, np.ndarray]],
    grad_scales: Mapping[str, np.ndarray],
    reduction: str,
    denominator: float | np.ndarray | None = None,
) -> Evaluation:
    """Apply ``reduction`` to elementwise ``terms`` (and their gradients).

    ``grads`` are the gradients of ``sum(terms)``. ``mean`` divides by
    ``denominator`` (default: the number of terms), which is how weighted
    means (cross-entropy, NLL) share this one function. A mean over nothing is
    0/0 = NaN, as the mathematics says.
    """
    if reduction == "none":
        return Evaluation(terms, scale, dict(grads), dict(grad_scales))
    if reduction == "batchmean":     # torch.nn.KLDivLoss: the sum over the batch size
        reduction, denominator = "mean", terms.dtype.type(terms.shape[0] if terms.ndim else 1)
    if reduction not in ("sum", "mean"):
        raise DomainError(f"reduction must be 'none', 'sum', 'mean' or 'batchmean', got {reduction!r}")
    factor = summation_factor(terms.size)
    total = terms.sum()
    total_scale = np.abs(scale).sum() * factor
    if reduction == "sum":
        return Evaluation(np.asarray(total), np.asarray(total_scale), dict(grads), dict(grad_scales))
    if denominator is None:
        denominator = terms.dtype.type(terms.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.asarray(total / denominator)
        value_scale = np.asarray(total_scale / np.abs(denominator))
        # An argument the loss does not depend on (an ignored row) keeps an exact
        # zero gradient, even when the mean is 0/0 because every row is ignored.
        grads = {k: _divide_bounds(lo, hi, denominator) for k, (lo, hi) in grads.items()}
        grad_scales = {k: s / np.abs(denominator) for k, s in grad_scales.items()}
    return Evaluation(value, value_scale, grads, grad_scales)


def _divide_bounds(lo: np.ndarray, hi: np.ndarray, denominator) -> tuple[np.ndarray, np.ndarray]:
    """Both bounds divided, dividing once when they are one array (a differentiable
    point): a large gradient is not copied more often than needed."""
    low = _divide(lo, denominator)
    return low, (low if hi is lo else _divide(hi, denominator))


def _divide(g: np.ndarray, denominator) -> np.ndarray:
    """g / denominator, exactly 0 where g is 0."""
    out = np.zeros_like(g)
    np.divide(g, denominator, out=out, where=g != 0)
    return out


def check_same_shape(input: np.ndarray, target: np.ndarray) -> None:
    if input.shape != target.shape:
        raise DomainError(f"input shape {input.shape} and target shape {target.shape} differ")


def check_unit_interval(name: str, a: np.ndarray) -> None:
    """Values must lie in [0, 1]; NaN is let through (it propagates, IEEE-style)."""
    bad = (a < 0) | (a > 1)
    if np.any(bad):
        raise DomainError(f"{name} must lie in [0, 1]; found {float(a[bad].ravel()[0])!r}",
                          value_dependent=True)


def broadcast(name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        raise DomainError(f"{name} of shape {a.shape} does not broadcast to {shape}") from None
