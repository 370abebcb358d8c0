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
    where the loss is differentiable.

    The value's allowed error is ``k * (eps(dtype) * scale + eps_acc(dtype) *
    accumulation)`` (docs/verdicts.md): ``scale`` bounds a correct evaluation's
    rounding (``reduce``), ``accumulation`` the rounding a float
    accumulator may add to the sums over array elements the formula takes (the
    reduction, a sum over classes or features), judged at the accumulator's
    precision (float32 for half precision). ``grad_scales`` are the magnitudes
    of what a gradient sums (same shapes as the gradients), judged at eps(dtype).
    """
    value: np.ndarray
    scale: np.ndarray
    grads: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    grad_scales: Mapping[str, np.ndarray] = field(default_factory=dict)
    accumulation: np.ndarray | float = 0.0
    #: the componentwise condition |f| + sum |df/dxi| |xi| over every real input
    #: (array elements and float parameters), per term for reduction 'none'
    condition: np.ndarray | None = None
    #: why the mathematics gives the value no meaning ("" where it has one): a mean
    #: whose numerator and denominator are both 0 (no terms, every row ignored).
    #: The verdict is then ``undefined`` and the report shows what each framework returns.
    undefined: str = ""
    #: reduction 'none': which terms are undefined (None: none of them)
    undefined_at: np.ndarray | None = None


def exact(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A gradient at a differentiable point: its subdifferential is one value."""
    return g, g


def times(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b with 0 * anything = 0: the convention 0 log 0 = 0 of the entropy, and
    a term with zero weight (an ignored row) contributes nothing, even if infinite."""
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(invalid="ignore"):
        return np.where(a == 0, np.zeros_like(b), a * b)


def condition(terms: np.ndarray, *parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The componentwise condition of each term: ``|t| + sum |dt/dxi| |xi|`` for
    the (derivative, input) pairs given, each already in the terms' layout (sum
    over a class or feature axis before passing it). The error of an algorithm
    that is stable in the mixed sense (the exact result for inputs perturbed by
    a few eps relatively, then rounded) is a few eps of it; 0 * inf = 0, so an
    input that does not move the term adds nothing, even where it is infinite."""
    out = np.abs(terms)
    for derivative, x in parts:
        d, a = np.broadcast_arrays(np.abs(derivative), np.abs(x))
        with np.errstate(invalid="ignore"):
            out = out + np.where((d == 0) | (a == 0), 0.0, d * a)
    return out


def row_sum(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """A part of ``condition`` summed over the axis the term reduces."""
    return np.sum(a, axis=axis)


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
    *,
    condition: np.ndarray | None = None,
    sums: np.ndarray | float = 0.0,
    undefined: tuple[np.ndarray, str] | None = None,
) -> Evaluation:
    """Apply ``reduction`` to elementwise ``terms`` (and their gradients).

    Each term's value is allowed k eps of the smaller of two bounds of a correct
    evaluation: ``scale``, the magnitudes the direct evaluation of the formula
    combines (a difference x - y rounds to eps |x - y|, sharper than the
    condition), and ``condition``, its componentwise condition (``condition()``),
    which a stable evaluation achieves where the formula's intermediates are far
    larger than the term (log1p, softplus), plus ``sums``, each term's own
    summation allowance (a sum over classes: log2(m) times what it adds, times
    the term's derivative by that sum). The reduction's own rounding, log2(n)
    times the sum of |terms|, is the ``accumulation``, judged at the
    accumulator's precision. ``grads`` are the gradients of ``sum(terms)``.
    ``mean`` divides by ``denominator`` (default: the number of terms), which is
    how weighted means (cross-entropy, NLL) share this one function. A mean
    over nothing is 0/0: NaN, and ``undefined`` says why. ``undefined``: (mask,
    reason), the terms the mathematics leaves undefined (0/0: a zero vector's
    cosine) and why; a sum or mean over one of them is undefined too.
    """
    at, why = (None, "") if undefined is None else (np.asarray(undefined[0], bool), undefined[1])
    if at is not None and not at.any():
        at = None
    if condition is not None:
        with np.errstate(invalid="ignore"):
            scale = np.fmin(np.abs(scale), np.broadcast_to(condition + np.asarray(sums), np.shape(terms)))
    if reduction == "none":
        return Evaluation(terms, scale, dict(grads), dict(grad_scales), 0.0, condition,
                          why if at is not None else "", None if at is None else np.broadcast_to(at, np.shape(terms)))
    whole = f"{int(at.sum())} of its terms undefined ({why})" if at is not None else ""
    if reduction == "batchmean":     # torch.nn.KLDivLoss: the sum over the batch size
        reduction, denominator = "mean", terms.dtype.type(terms.shape[0] if terms.ndim else 1)
    if reduction not in ("sum", "mean"):
        raise DomainError(f"reduction must be 'none', 'sum', 'mean' or 'batchmean', got {reduction!r}")
    rounding = summation_factor(terms.size) - 1.0
    total = terms.sum()
    scale_total = np.asarray(np.abs(scale).sum())
    condition_total = None if condition is None else np.asarray(np.abs(condition).sum())
    with np.errstate(invalid="ignore"):
        finite = np.where(np.isfinite(terms), np.abs(terms), 0.0)
        accumulation = np.asarray(rounding * finite.sum())
    if reduction == "sum":
        return Evaluation(np.asarray(total), scale_total, dict(grads), dict(grad_scales),
                          accumulation, condition_total, whole)
    if denominator is None:
        denominator = terms.dtype.type(terms.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.asarray(total / denominator)
        value_scale = np.asarray(scale_total / np.abs(denominator))
        if condition_total is not None:
            condition_total = condition_total / np.abs(denominator)
        accumulation = np.asarray(accumulation / np.abs(denominator))
        # An argument the loss does not depend on (an ignored row) keeps an exact
        # zero gradient, even when the mean is 0/0 because every row is ignored.
        grads = {k: _divide_bounds(lo, hi, denominator) for k, (lo, hi) in grads.items()}
        grad_scales = {k: s / np.abs(denominator) for k, s in grad_scales.items()}
    undefined = whole
    if np.all(denominator == 0) and (terms.size == 0 or total == 0):
        undefined = ("a mean over no terms: 0/0" if terms.size == 0 else
                     "a mean whose every term is left out (ignored or weighing 0): 0/0")
    return Evaluation(value, value_scale, grads, grad_scales, accumulation, condition_total, undefined)


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
