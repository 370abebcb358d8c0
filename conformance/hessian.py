"""The oracle's Hessian-vector product: its own gradient, differentiated in float64.

For an argument x of a case and a direction v (``adapters.base.hvp_direction``), H v
is the derivative of the oracle's analytic gradient along v (the other arguments
fixed): central differences at steps h and h/2, combined by Richardson extrapolation,
with their difference as the error bound. The product is defined here only where it
can be bounded: the gradient single-valued (no subgradient interval) and finite at
every point the differences visit, and the two estimates agreeing to 1e-6 of the
product's size. Elsewhere (a kink of a hinge or an absolute value within the step,
an infinite input, the point on a kink of the gradient, where the one-sided
differences differ) there is no check, and ``hvp`` says why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

import reference

from .vocab.case import Case

#: the largest disagreement of the two estimates, relative to the product's size,
#: for the product to count as determined
AGREEMENT = 1e-6
#: the largest difference of the one-sided differences, relative to the product's
#: size, of a gradient without a kink at the point (smooth: O(step) ~ 1e-5)
KINK = 1e-3
#: ulps of float64 rounding assumed in each of the oracle's gradients (its formulas take
#: a few operations per element): the differences' rounding error, ROUNDING eps |g| / h,
#: bounds what the check can resolve (about 1e-10 of the gradient's size: a float64
#: framework's product is checked to that, a float32 one to its own eps)
ROUNDING = 8


@dataclass(frozen=True)
class Product:
    value: np.ndarray | None        # H v, None where undetermined
    error: np.ndarray | None        # a bound on |value - H v| (Richardson)
    why: str = ""                   # why undetermined


def _gradient(case: Case, arrays: Mapping[str, np.ndarray], arg: str) -> np.ndarray | None:
    try:
        with np.errstate(all="ignore"):
            ev = reference.evaluate(case.loss, arrays, case.params, case.reduction)
    except reference.DomainError:
        return None
    lo, hi = ev.grads[arg]
    if not (np.array_equal(lo, hi) and np.isfinite(lo).all()):
        return None
    return np.asarray(lo, np.float64)


def hvp(case: Case, arrays: Mapping[str, np.ndarray], arg: str, v: np.ndarray) -> Product:
    """The oracle's H v for ``arg`` at ``arrays`` (the inputs as rounded to the dtype)."""
    x = np.asarray(arrays[arg], np.float64)
    if x.size == 0:
        return Product(None, None, "no elements")
    if not np.isfinite(x).all():
        return Product(None, None, "a non-finite input")
    h = np.cbrt(np.finfo(np.float64).eps) * max(1.0, float(np.max(np.abs(x))))

    here = _gradient(case, arrays, arg)
    if here is None:
        return Product(None, None, "the gradient is not single-valued and finite at the point")

    def central(step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        plus = _gradient(case, {**arrays, arg: x + step * v}, arg)
        minus = _gradient(case, {**arrays, arg: x - step * v}, arg)
        if plus is None or minus is None:
            return None
        # the float64 rounding of the two gradients, magnified by 1 / (2 step)
        rounding = ROUNDING * np.finfo(np.float64).eps * (np.abs(plus) + np.abs(minus)) / (2 * step)
        # one-sided differences: at a kink of the gradient (a hinge's margin, a sparsemax
        # support change) they differ by the jump, however small the step
        sides = np.abs((plus - here) - (here - minus)) / step
        return (plus - minus) / (2 * step), rounding, sides

    coarse, fine = central(h), central(h / 2)
    if coarse is None or fine is None:
        return Product(None, None, "the gradient is not single-valued and finite around the point")
    (coarse, _, _), (fine, rounding, sides) = coarse, fine
    estimate = fine + (fine - coarse) / 3
    disagreement = np.abs(fine - coarse)
    error = disagreement + rounding
    size = max(float(np.max(np.abs(estimate))) if estimate.size else 0.0, 1e-300)
    if float(np.max(disagreement)) > AGREEMENT * size:
        return Product(None, None, f"the differences at h and h/2 disagree by {float(np.max(disagreement)):.3g} "
                                   f"(a kink within the step)")
    if float(np.max(sides - 2 * rounding)) > KINK * size:
        return Product(None, None, "the one-sided differences differ: the gradient has a kink at the point "
                                   "(no Hessian there)")
    return Product(estimate, error)
