"""Hinge and perceptron losses per row over the last (class) axis: Keras's
categorical hinge on label rows, optax's multiclass hinge and perceptron on
integer labels. Re-exported by ``reference.hinge`` (the family's module).

Each is a max over classes, so its subdifferential at a tie is the convex hull of
the tied classes' gradients; the bounds given are that hull's elementwise box
(a framework may split a tie evenly, or give it all to one class: both inside).
A row holding a NaN score has a NaN loss and NaN gradient (every entry).
"""
from __future__ import annotations

import math

import numpy as np

from .._common import DomainError, Evaluation, condition, reduce, row_sum, times


def _rows(input: np.ndarray) -> int:
    if input.ndim < 1:
        raise DomainError(f"scores need a class axis (the last); got shape {input.shape}")
    if input.shape[-1] == 0:
        raise DomainError(f"scores of shape {input.shape} have no class (the maximum over none is undefined)")
    return input.shape[-1]


def _active(w: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the weight lambda_j in [0, 1] of class j in the subgradient of
    max_j w_j: 1 for the unique maximiser, [0, 1] for tied maximisers, 0 elsewhere."""
    at = w == top[..., None]
    tied = at.sum(axis=-1, keepdims=True) > 1
    one = np.ones_like(w)
    hi = np.where(at, one, 0.0 * one)
    lo = np.where(at & ~tied, one, 0.0 * one)
    return lo, hi


def _nan_rows(bounds: tuple[np.ndarray, np.ndarray], value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = np.isnan(value)[..., None]
    return tuple(np.where(bad, np.nan, b) for b in bounds)  # type: ignore[return-value]


def categorical_hinge(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Categorical hinge per row: :math:`\ell = \max(0,\ \max_j (1 - y_j) x_j - \sum_j y_j x_j + 1)`.

    keras.losses.CategoricalHinge / keras.losses.categorical_hinge
    (https://keras.io/api/losses/hinge_losses/): ``loss = maximum(neg - pos + 1, 0)``
    with ``neg = maximum((1 - y_true) * y_pred)`` and ``pos = sum(y_true * y_pred)``
    over the last axis, y_true "either {-1, +1} or {0, 1} (i.e. a one-hot-encoded
    tensor)"; applied as written for any y. Note the max runs over *every* class,
    the true one included (with weight 1 - y = 0), so for one-hot y it is
    max(0, max_{j != c} x_j), not max_{j != c} x_j (Crammer-Singer would be the
    latter: multiclass_hinge). A product with a zero coefficient is 0 even for an
    infinite score (the true class of a one-hot row does not enter neg, a class
    with label 0 does not enter pos). 'none' is one loss per row.

    Subgradient: t (lambda_j (1 - y_j) - y_j) with t in the subdifferential of
    max(0, .) and lambda in the simplex of the maximisers of (1 - y_j) x_j.
    Condition: the scores and the (float) labels, whose derivative is
    -t (lambda_j + 1) x_j; ``sums`` is the rounding of pos over the C classes.
    """
    if input.shape != target.shape:
        raise DomainError(f"input shape {input.shape} and target shape {target.shape} differ")
    _rows(input)
    c = 1.0 - target
    w = times(c, input)
    with np.errstate(invalid="ignore", over="ignore"):
        neg = w.max(axis=-1)
        products = times(target, input)
        pos = products.sum(axis=-1)
        z = neg - pos + 1.0
        value = np.where(np.isnan(z), z, np.maximum(z, 0.0))
        lam = _active(w, neg)
        t_lo = np.where(z > 0, 1.0, 0.0).astype(z.dtype)[..., None]
        t_hi = np.where(z >= 0, 1.0, 0.0).astype(z.dtype)[..., None]
        corners = [t * (lm * c - target) for t in (t_lo, t_hi) for lm in lam]
        lo, hi = np.minimum.reduce(corners), np.maximum.reduce(corners)
        scale = 1.0 + np.abs(neg) + np.abs(products).sum(axis=-1)
        # d/dy_j = -t (lambda_j + 1) x_j: its largest magnitude over the corners
        slope_y = t_hi * (lam[1] + 1.0)
        slope_x = np.maximum(np.abs(lo), np.abs(hi))
        cond = condition(value, (row_sum(times(slope_x, np.abs(input))), 1.0),
                         (row_sum(times(slope_y, np.abs(times(target, input)))), 1.0))
        sums = math.log2(max(input.shape[-1], 1)) * t_hi[..., 0] * np.abs(products).sum(axis=-1)
    grads = {"input": _nan_rows((lo, hi), value)}
    return reduce(value, scale, grads, {"input": np.abs(c) + np.abs(target)}, reduction,
                  condition=cond, sums=sums)


def _integer_labels(input: np.ndarray, target: np.ndarray) -> None:
    classes = _rows(input)
    if not np.issubdtype(target.dtype, np.integer):
        raise DomainError(f"labels must be integer class indices, got dtype {target.dtype}")
    if target.shape != input.shape[:-1]:
        raise DomainError(f"labels of shape {target.shape} do not match scores of shape {input.shape} "
                          f"(expected {input.shape[:-1]})")
    bad = (target < 0) | (target >= classes)
    if np.any(bad):
        raise DomainError(f"class index {int(target[bad].ravel()[0])} is outside [0, {classes})",
                          value_dependent=True)


def _multiclass(input: np.ndarray, target: np.ndarray, margin: float, reduction: str) -> Evaluation:
    r""":math:`\ell = \max_j d_j` with :math:`d_j = \text{margin} + x_j - x_y` for j != y and
    :math:`d_y = 0`, i.e. max(0, max_{j != y} (margin + x_j - x_y)).

    Subgradient: lambda - e_y, lambda in the simplex of the maximisers of d."""
    _integer_labels(input, target)
    idx = target[..., None]
    xy = np.take_along_axis(input, idx, axis=-1)
    is_y = np.arange(input.shape[-1]) == idx
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(is_y, np.zeros_like(input), margin + input - xy)
        value = d.max(axis=-1)
        value = np.where(np.isnan(input).any(axis=-1), np.nan, value).astype(input.dtype)
        lam_lo, lam_hi = _active(d, value)
        e_y = is_y.astype(input.dtype)
        scale = abs(margin) + np.abs(input).max(axis=-1) + np.abs(xy[..., 0])
        # the scores only (the margin is a constant, the labels integers); at a tie
        # the larger bound: |lambda_j - [j = y]| <= 1
        slope = np.maximum(np.abs(lam_lo - e_y), np.abs(lam_hi - e_y))
        cond = condition(value, (row_sum(times(slope, np.abs(input))), 1.0))
    grads = {"input": _nan_rows((lam_lo - e_y, lam_hi - e_y), value)}
    return reduce(value, scale, grads, {"input": np.ones_like(input)}, reduction, condition=cond)


def multiclass_hinge(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Multiclass (Crammer-Singer) hinge per row: :math:`\ell = \max(0, \max_{j \ne y} (1 + x_j - x_y))`.

    optax.losses.multiclass_hinge_loss(scores, labels)
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_hinge_loss),
    "labels: ground-truth integer labels", computed as
    ``max(scores + 1 - one_hot(labels), axis=-1) - dot(scores, one_hot(labels))``: the
    same function, written as the maximum of differences here so that an infinite
    score has its limit (optax's dot multiplies it by 0). 'none' is one loss per
    row; labels outside [0, C) are refused.
    """
    return _multiclass(input, target, 1.0, reduction)


def multiclass_perceptron(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Multiclass perceptron per row: :math:`\ell = \max_j x_j - x_y`.

    optax.losses.multiclass_perceptron_loss(scores, labels)
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_perceptron_loss),
    computed as ``max(scores, axis=-1) - dot(scores, one_hot(labels))`` (Collins, EMNLP
    2002); here max(0, max_{j != y} (x_j - x_y)), the same function with limits at
    infinite scores. Labels outside [0, C) are refused.
    """
    return _multiclass(input, target, 0.0, reduction)


FUNCTIONS = {"categorical_hinge": categorical_hinge, "multiclass_hinge": multiclass_hinge,
             "multiclass_perceptron": multiclass_perceptron}
