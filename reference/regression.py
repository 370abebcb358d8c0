"""Regression losses: L1, MSE, SmoothL1, Huber.

All four are elementwise in d = input - target and share ``_elementwise``.
The gradient with respect to the target is minus the gradient with respect to
the input.
"""
from __future__ import annotations

import numpy as np

from ._common import DomainError, Evaluation, check_same_shape, condition, reduce


def _elementwise(input, target, reduction, term, dterm, dparameter=None):
    """term(d) -> (value, scale); dterm(d) -> (lo, hi, scale) for d(term)/dd;
    dparameter(d) -> (d(term)/dp, p) for the loss's float parameter p.
    The condition: |t| + |dt/dd| (|x| + |y|) + |dt/dp| |p|."""
    check_same_shape(input, target)
    d = input - target
    value, scale = term(d)
    lo, hi, gscale = dterm(d)
    grads = {"input": (lo, hi), "target": (-hi, -lo)}
    gscales = {"input": gscale, "target": gscale}
    slope = np.maximum(np.abs(lo), np.abs(hi))
    parts = [(slope, input), (slope, target)] + ([dparameter(d)] if dparameter else [])
    return reduce(value, scale, grads, gscales, reduction, condition=condition(value, *parts))


def l1(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Absolute error, :math:`\ell_n = |x_n - y_n|`.

    Follows torch.nn.L1Loss (https://pytorch.org/docs/stable/generated/torch.nn.L1Loss.html)
    and keras.losses.MeanAbsoluteError, which averages over the last axis first
    (the same mean overall; its ``sum`` differs, see the adapters).
    At d = 0 the subdifferential is [-1, 1].
    """
    def term(d):
        a = np.abs(d)
        return a, a

    def dterm(d):
        s = np.sign(d)
        lo = np.where(d == 0, -1.0, s).astype(d.dtype)
        hi = np.where(d == 0, 1.0, s).astype(d.dtype)
        return lo, hi, np.ones_like(d)
    return _elementwise(input, target, reduction, term, dterm)


def mse(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Squared error, :math:`\ell_n = (x_n - y_n)^2`.

    torch.nn.MSELoss (https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html);
    optax.losses.squared_error is the unreduced term; optax.l2_loss is half of it.
    """
    def term(d):
        sq = d * d
        return sq, sq

    def dterm(d):
        g = 2.0 * d
        return g, g, np.abs(g)
    return _elementwise(input, target, reduction, term, dterm)


def smooth_l1(input: np.ndarray, target: np.ndarray, *, beta: float = 1.0,
              reduction: str = "mean") -> Evaluation:
    r"""Smooth L1, :math:`\ell_n = 0.5 d^2/\beta` if :math:`|d| < \beta`, else :math:`|d| - 0.5\beta`.

    torch.nn.SmoothL1Loss (https://pytorch.org/docs/stable/generated/torch.nn.SmoothL1Loss.html):
    beta = 0 is L1 (the docs say so explicitly); smooth_l1 = huber(delta=beta) / beta.
    The derivative is continuous at |d| = beta; at beta = 0 and d = 0 it is [-1, 1].
    """
    if beta < 0:
        raise DomainError(f"beta must be >= 0, got {beta}")
    if beta == 0:
        return l1(input, target, reduction=reduction)

    def term(d):
        a = np.abs(d)
        v = np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)
        return v, np.where(a < beta, v, a)

    def dterm(d):
        g = np.where(np.abs(d) < beta, d / beta, np.sign(d)).astype(d.dtype)
        return g, g, np.abs(g) + 1.0  # see huber: autodiff of huber/beta sums terms of size 1

    def dbeta(d):
        return np.where(np.abs(d) < beta, -0.5 * d * d / (beta * beta), -0.5), np.asarray(beta)
    return _elementwise(input, target, reduction, term, dterm, dbeta)


def huber(input: np.ndarray, target: np.ndarray, *, delta: float = 1.0,
          reduction: str = "mean") -> Evaluation:
    r"""Huber, :math:`\ell_n = 0.5 d^2` if :math:`|d| \le \delta`, else :math:`\delta(|d| - 0.5\delta)`.

    torch.nn.HuberLoss (https://pytorch.org/docs/stable/generated/torch.nn.HuberLoss.html),
    optax.losses.huber_loss and keras.losses.Huber (the last averages over the
    last axis). delta must be positive.
    """
    if not delta > 0:
        raise DomainError(f"delta must be > 0, got {delta}")

    def term(d):
        a = np.abs(d)
        v = np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))
        return v, np.where(a <= delta, v, delta * a)

    def dterm(d):
        g = np.where(np.abs(d) <= delta, d, delta * np.sign(d)).astype(d.dtype)
        # The standard formulation 0.5 q^2 + delta (|d| - q), q = min(|d|, delta)
        # (optax, Keras), differentiated by autodiff, returns delta + (q - delta):
        # what is summed has the size of delta, not of the gradient.
        return g, g, np.abs(g) + delta

    def ddelta(d):
        return np.where(np.abs(d) <= delta, 0.0, np.abs(d) - delta), np.asarray(delta)
    return _elementwise(input, target, reduction, term, dterm, ddelta)


FUNCTIONS = {"l1": l1, "mse": mse, "smooth_l1": smooth_l1, "huber": huber}
