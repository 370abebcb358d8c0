"""Hinge and perceptron losses of Keras and optax (torch.nn has none of them).

Binary, elementwise in z = margin - y x (this module): hinge, squared_hinge,
perceptron. Per row over the last axis (``multiclass``): categorical_hinge,
multiclass_hinge, multiclass_perceptron.

The catalog's definition of the binary ones: ``input`` and ``target`` of one shape,
'none' the elementwise terms, 'sum' / 'mean' over every element. Keras's own
'none' averages over the last axis first (its loss per sample); its
'sum_over_batch_size' is then the mean over every element, as here.

Labels: ``labels = "signs"`` (default) reads the target as y itself (the documents
expect -1 or 1; the formula is applied as written for any y), ``labels = "binary"``
reads t in {0, 1} as y = 2 t - 1 (Keras's documented conversion; a t outside
{0, 1} is refused). Keras converts *any* target whose values are all 0 or 1,
also when the caller meant signs: that is the policy knob ``convert_binary``.
"""
from __future__ import annotations

import numpy as np

from .._common import DomainError, Evaluation, condition, reduce, times

KERAS_HINGE = "https://keras.io/api/losses/hinge_losses/"
OPTAX_LOSSES = "https://optax.readthedocs.io/en/latest/api/losses.html"
LABELS = ("signs", "binary")


def _check_shapes(input: np.ndarray, target: np.ndarray) -> None:
    if input.shape != target.shape:
        raise DomainError(f"input shape {input.shape} and target shape {target.shape} differ "
                          "(the loss pairs them elementwise; broadcasting is not part of it)")


def signs(target: np.ndarray, labels: str, convert_binary: bool = False) -> np.ndarray:
    """The y in {-1, 1} that the formula uses.

    ``labels = "binary"``: y = 2 t - 1, refusing a t outside {0, 1} (NaN passes:
    it propagates). ``convert_binary`` (Keras's policy, keras/src/losses/losses.py,
    convert_binary_labels_to_hinge): when *every* target value is 0 or 1, it is
    converted whatever ``labels`` says, and otherwise not at all, also under
    ``labels = "binary"``: one NaN label leaves every label as it is."""
    if labels not in LABELS:
        raise DomainError(f"labels must be one of {LABELS}, got {labels!r}")
    binary = (target == 0) | (target == 1)
    if labels == "binary":
        bad = ~binary & ~np.isnan(target)
        if np.any(bad):
            raise DomainError(f"labels = 'binary' takes targets in {{0, 1}}; found {float(target[bad].ravel()[0])!r}",
                              value_dependent=True)
        if convert_binary and not np.all(binary):
            return target
        return 2.0 * target - 1.0
    if convert_binary and np.all(binary):
        return 2.0 * target - 1.0
    return target


def corner_bounds(z: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subgradient bounds of max(0, z) through dz = dz/dx: dz where z > 0, 0 where
    z < 0, every value between 0 and dz at the corner z = 0, NaN where z is NaN."""
    zero = np.zeros_like(dz)
    at = z == 0
    g = np.where(z > 0, dz, np.where(np.isnan(z), np.nan, zero))
    return np.where(at, np.minimum(zero, dz), g), np.where(at, np.maximum(zero, dz), g)


def _positive_part(z: np.ndarray) -> np.ndarray:
    """max(z, 0) with NaN kept."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(z), z, np.maximum(z, 0.0))


def _binary(input: np.ndarray, y: np.ndarray, margin: float, squared: bool, reduction: str,
            labels_exact: bool = False) -> Evaluation:
    """max(0, margin - y x), or its square, elementwise; then the reduction.

    The condition counts x and the float target y; the margin is a constant of the
    formula, not an input. ``labels_exact``: y = 2 t - 1 was converted from 0/1
    labels, which are exact (not a continuous input: t moved off {0, 1} is refused,
    or no longer converted), so the target adds nothing."""
    with np.errstate(invalid="ignore", over="ignore"):
        yx = y * input
        z = margin - yx
        part = _positive_part(z)
        size = abs(margin) + np.abs(yx)               # what 1 - y x adds up
        if squared:
            value = part * part
            # d(z+^2)/dx = 2 z+ (-y): exact; NaN where z is NaN; 0 * inf stays 0 (z <= 0)
            g = np.where(part > 0, 2.0 * part * -y, np.where(np.isnan(z), np.nan, np.zeros_like(z)))
            grads = {"input": (g, g)}
            scale = 2.0 * part * size
            gscale = 2.0 * size * np.abs(y)
            # d/dy = 2 z+ (-x); at the corner both are 0
            slope_x, slope_y = np.abs(g), 2.0 * times(part, np.abs(input))
        else:
            value = part
            grads = {"input": corner_bounds(z, -y * np.ones_like(input))}
            scale = size
            gscale = np.abs(y) * np.ones_like(input)
            # |d/dx| = |y|, |d/dy| = |x| where z > 0, and at the corner (the larger bound)
            active = np.where(z >= 0, 1.0, 0.0).astype(z.dtype)
            slope_x, slope_y = times(active, np.abs(y)), times(active, np.abs(input))
        parts = [(slope_x, input)] + ([] if labels_exact else [(slope_y, y)])
        cond = condition(value, *parts)
    return reduce(value, scale, grads, {"input": gscale}, reduction, condition=cond)


def hinge(input: np.ndarray, target: np.ndarray, *, labels: str = "signs", reduction: str = "mean",
          convert_binary: bool = False) -> Evaluation:
    r"""Hinge, :math:`\ell = \max(0, 1 - y x)` elementwise.

    keras.losses.Hinge / keras.losses.hinge (https://keras.io/api/losses/hinge_losses/):
    ``loss = mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; "y_true values are
    expected to be -1 or 1. If binary (0 or 1) labels are provided we will convert
    them to -1 or 1" (``labels`` and ``convert_binary`` above).
    optax.losses.hinge_loss(predictor_outputs, targets)
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.hinge_loss):
    ``jnp.maximum(0, 1 - predictor_outputs * targets)``, targets "strictly in the set
    {-1, 1}", unreduced. At the corner 1 - y x = 0 the subgradient is the segment
    between 0 and -y.
    """
    _check_shapes(input, target)
    y = signs(target, labels, convert_binary)
    return _binary(input, y, 1.0, False, reduction, labels_exact=y is not target)


def squared_hinge(input: np.ndarray, target: np.ndarray, *, labels: str = "signs", reduction: str = "mean",
                  convert_binary: bool = False) -> Evaluation:
    r"""Squared hinge, :math:`\ell = \max(0, 1 - y x)^2` elementwise.

    keras.losses.SquaredHinge / keras.losses.squared_hinge
    (https://keras.io/api/losses/hinge_losses/): ``loss = mean(square(maximum(1 -
    y_true * y_pred, 0)), axis=-1)``, labels as for :func:`hinge`. optax has no
    squared hinge: it is the square of optax.losses.hinge_loss. Differentiable
    everywhere: the derivative 2 max(0, 1 - y x) (-y) is 0 at the corner.
    """
    _check_shapes(input, target)
    y = signs(target, labels, convert_binary)
    return _binary(input, y, 1.0, True, reduction, labels_exact=y is not target)


def perceptron(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Binary perceptron, :math:`\ell = \max(0, -y x)` elementwise, y = +-1.

    optax.losses.perceptron_loss(predictor_outputs, targets)
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.perceptron_loss):
    ``jnp.maximum(0, - predictor_outputs * targets)`` after checking the shapes are
    equal; targets "strictly in the set {-1, 1}". Keras and torch.nn have none. At
    x = 0 the subgradient is the segment between 0 and -y.
    """
    _check_shapes(input, target)
    return _binary(input, target, 0.0, False, reduction)


FUNCTIONS = {"hinge": hinge, "squared_hinge": squared_hinge, "perceptron": perceptron}
