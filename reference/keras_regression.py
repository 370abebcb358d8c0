"""Losses that Keras and optax offer and torch.nn does not: log-cosh, the mean
absolute percentage error and the mean squared logarithmic error (elementwise,
here), Dice and Tversky (per sample: see the section below).

Keras computes its regression losses as a mean over the LAST axis first; the
catalog's terms are elementwise (``'none'`` returns one term per element, as
torch.nn's regression losses do), so Keras's 'mean' is the catalog's 'mean' and
its 'none'/'sum' are not (the adapters say how they map).

Outside the mathematics' domain the formulas follow IEEE arithmetic rather than
refusing: the percentage error at y = 0 is the limit +inf (0/0 = NaN where
x = y = 0 too), the logarithmic error at x = -1 is the limit +inf and below -1
NaN. Keras instead documents a clip (``max(|y|, epsilon)``, ``max(x, epsilon)``):
those are the policy knobs ``epsilon`` and ``clip_min``.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import Evaluation, check_same_shape, condition, reduce, summation_factor, times

LOG2 = math.log(2.0)


def log_cosh(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Log-cosh, :math:`\ell_n = \log\cosh(x_n - y_n)`; its derivative is :math:`\tanh(d)`.

    keras.losses.LogCosh (https://keras.io/api/losses/regression_losses/#logcosh-class):
    ``mean(log((exp(d) + exp(-d)) / 2), axis=-1)``, computed (keras/src/losses/losses.py,
    log_cosh) as ``d + softplus(-2 d) - log 2``; optax.losses.log_cosh
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.log_cosh):
    unreduced, ``logaddexp(d, -d) - log 2``. torch.nn has none.

    Written without overflow (cosh(d) overflows float64 at |d| > 710) and without
    cancellation near 0: ``log1p(2 sinh(d/2)^2)`` for |d| < 1, else
    ``|d| + log1p(exp(-2|d|)) - log 2``. At |d| = inf the value is inf and the
    derivative its limit +-1. The error of the usual formulations (a sum of |d|
    and log 2) is the scale: near d = 0 every one of them is accurate only to
    eps * log 2 in absolute terms.
    """
    check_same_shape(input, target)
    d = input - target
    a = np.abs(d)
    small = a < 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.sinh(np.where(small, d, np.zeros_like(d)) * 0.5)
        big = np.where(small, np.ones_like(a), a)
        value = np.where(small, np.log1p(2.0 * s * s), big + np.log1p(np.exp(-2.0 * big)) - LOG2)
        t = np.tanh(d)
    scale = a + LOG2
    gscale = 1.0 + np.abs(t)
    grads = {"input": (t, t), "target": (-t, -t)}
    cond = condition(value, (t, input), (t, target))
    return reduce(value, scale, grads, {"input": gscale, "target": gscale}, reduction, condition=cond)


def mape(input: np.ndarray, target: np.ndarray, *, epsilon: float = 0.0,
         reduction: str = "mean") -> Evaluation:
    r"""Absolute percentage error, :math:`\ell_n = 100\,|x_n - y_n| / |y_n|`.

    keras.losses.MeanAbsolutePercentageError
    (https://keras.io/api/losses/regression_losses/#meanabsolutepercentageerror-class):
    ``100 * mean(abs((y - x) / maximum(abs(y), epsilon)), axis=-1)`` with
    epsilon = keras.config.epsilon() = 1e-7 in the tensor's dtype: the knob
    ``epsilon`` (0: the mathematics). torch.nn and optax have none.

    y = 0 lies outside the domain; the value is the limit +inf there (NaN where
    x = 0 too: 0/0 has no limit), and the derivatives are what the formula gives
    (+-inf in x, NaN in y). An infinite y with a finite x has the limit 100 and
    derivatives 0 (IEEE's inf / inf would be NaN). At x = y (the kink of |.|) the
    derivative in x is any value in [-100/|y|, 100/|y|], and in y the same segment.
    """
    check_same_shape(input, target)
    d = input - target
    den = np.abs(target)
    zero = np.zeros_like(den)
    clipped = np.zeros(den.shape, dtype=bool)
    if epsilon:
        clipped = den < epsilon
        den = np.where(clipped, den.dtype.type(epsilon), den)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        far = np.isinf(target) & np.isfinite(input)
        q = np.where(far, np.ones_like(den), np.abs(d) / den)
        value = 100.0 * q
        # d/dx = 100 sign(d) / |y|; d/dy = -100 (sign(d) + q sign(y)) / |y|, where the
        # second term is absent while Keras's clip holds |y| at epsilon. Written over
        # |y| once: 100 / |y| and q / |y| each overflow float16 for a subnormal y.
        qs = np.where(clipped, zero, q * np.sign(target))
        s = np.sign(d)
        kink = d == 0
        s_lo, s_hi = np.where(kink, -1.0, s), np.where(kink, 1.0, s)
        x_lo, x_hi = 100.0 * s_lo / den, 100.0 * s_hi / den
        y_lo, y_hi = -100.0 * (s_hi + qs) / den, -100.0 * (s_lo + qs) / den
        xscale = 100.0 / den
        yscale = 100.0 * (1.0 + np.abs(qs)) / den
    undefined = np.isnan(value)
    nan = np.full_like(value, np.nan)
    x_lo, x_hi, y_lo, y_hi = (np.where(undefined, nan, np.where(far, zero, g))
                              for g in (x_lo, x_hi, y_lo, y_hi))
    with np.errstate(invalid="ignore"):
        cond = condition(value, (np.fmax(np.abs(x_lo), np.abs(x_hi)), input),
                         (np.fmax(np.abs(y_lo), np.abs(y_hi)), target))
    return reduce(value, value, {"input": (x_lo, x_hi), "target": (y_lo, y_hi)},
                  {"input": xscale, "target": yscale}, reduction, condition=cond)


def _log1p_clipped(x: np.ndarray, clip_min: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log1p(max(x, clip)), d/dx lower, d/dx upper): the derivative is 0 below the
    clip and any value between 0 and 1/(1 + x) exactly at it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if clip_min is None:
            g = 1.0 / (1.0 + x)
            return np.log1p(x), g, g
        c = x.dtype.type(clip_min)
        xc = np.maximum(x, c)
        g = 1.0 / (1.0 + xc)
        zero = np.zeros_like(g)
        lo = np.where(x > c, g, np.where(x == c, np.minimum(zero, g), zero))
        hi = np.where(x > c, g, np.where(x == c, np.maximum(zero, g), zero))
        nan = np.isnan(x)
        return np.log1p(xc), np.where(nan, x, lo), np.where(nan, x, hi)


def msle(input: np.ndarray, target: np.ndarray, *, clip_min: float | None = None,
         reduction: str = "mean") -> Evaluation:
    r"""Squared logarithmic error, :math:`\ell_n = (\log(1 + x_n) - \log(1 + y_n))^2`.

    keras.losses.MeanSquaredLogarithmicError
    (https://keras.io/api/losses/regression_losses/#meansquaredlogarithmicerror-class):
    ``mean(square(log(maximum(x, eps) + 1) - log(maximum(y, eps) + 1)), axis=-1)``,
    eps = keras.config.epsilon() = 1e-7 as a float32 tensor; its docs: "y_pred and
    y_true cannot be less or equal to 0. Negative values and 0 values will be
    replaced with epsilon". That clip is the knob ``clip_min`` (None: the
    mathematics, defined for x, y > -1). torch.nn and optax have none.

    At x = -1 the value is the limit +inf; below -1 the logarithm is undefined
    (NaN). The usual formulation log(x + 1) rounds 1 + x first, an absolute error
    of eps in each logarithm: the scale counts it.
    """
    check_same_shape(input, target)
    a, ga_lo, ga_hi = _log1p_clipped(input, clip_min)
    b, gb_lo, gb_hi = _log1p_clipped(target, clip_min)
    with np.errstate(invalid="ignore", over="ignore"):
        r = a - b
        value = r * r
        spread = np.abs(r) + 2.0 + np.abs(a) + np.abs(b)
        scale = value + 2.0 * np.abs(r) * spread
        two_r = 2.0 * r
        gx = _scaled(two_r, ga_lo, ga_hi)
        gy = _scaled(-two_r, gb_lo, gb_hi)
        xscale = 2.0 * spread * np.maximum(np.abs(ga_lo), np.abs(ga_hi))
        yscale = 2.0 * spread * np.maximum(np.abs(gb_lo), np.abs(gb_hi))
        cond = condition(value, (np.maximum(np.abs(gx[0]), np.abs(gx[1])), input),
                         (np.maximum(np.abs(gy[0]), np.abs(gy[1])), target))
    return reduce(value, scale, {"input": gx, "target": gy}, {"input": xscale, "target": yscale},
                  reduction, condition=cond)


def _scaled(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The segment c * [lo, hi] (ordered), 0 where c = 0, and 0 where a bound is 0 for a
    non-NaN c: below the clip, and at x = +inf, where 2 log(1 + x) / (1 + x) -> 0."""
    with np.errstate(invalid="ignore"):
        zero = np.zeros_like(c)
        p = np.where((c == 0) | ((lo == 0) & ~np.isnan(c)), zero, c * lo)
        q = np.where((c == 0) | ((hi == 0) & ~np.isnan(c)), zero, c * hi)
        return np.minimum(p, q), np.maximum(p, q)


# -- overlap losses ------------------------------------------------------------
# Overlap losses for segmentation, per sample: Dice and Tversky (Keras, optax).
#
# Each sample n is the slice ``x[n]`` (every axis but the first is summed over; a
# 1-D or 0-D input is one sample and gives one scalar term). With the overlap sums
#
#     I = sum(x y),   FP = sum(x (1 - y)),   FN = sum((1 - x) y),
#
# Tversky is ``1 - (I + s) / (I + alpha FP + beta FN + s)`` (Salehi et al. 2017,
# https://arxiv.org/abs/1706.05721: alpha weighs the false positives) and Dice is
# ``1 - (2 I + s) / (sum(x) + sum(y) + s)``, which is Tversky with alpha = beta = 1/2
# and smoothing s/2. ``from_logits`` takes x = sigmoid(input) first. An empty
# overlap without smoothing (I = FP = FN = 0) is 0/0 = NaN.


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow: exp(z) / (1 + exp(z)) for z < 0."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _per_sample(a: np.ndarray) -> np.ndarray:
    """Sum over every axis but the first (a batch of samples), or over all of them
    (one sample)."""
    return a.sum(axis=tuple(range(1, a.ndim))) if a.ndim >= 2 else np.asarray(a.sum())


def _expand(s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A per-sample array broadcast back to the elements of its samples."""
    return s.reshape(s.shape + (1,) * (a.ndim - 1)) if a.ndim >= 2 else s


def _overlap(input: np.ndarray, target: np.ndarray, alpha: float, beta: float, smooth: float,
             eps: float, from_logits: bool, reduction: str, weights_are_parameters: bool) -> Evaluation:
    """1 - (I + smooth) / (I + alpha FP + beta FN + smooth + eps) per sample.

    The condition counts every x (or logit) and y, the smoothing, and alpha and beta
    when they are the loss's parameters (Tversky; Dice's 1/2 is a constant).
    ``sums``: the overlap sums over the sample's n elements, as ``scale`` counts them."""
    check_same_shape(input, target)
    x = _sigmoid(input) if from_logits else input
    y = target
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        i = _per_sample(x * y)
        fp = _per_sample(x * (1.0 - y))
        fn = _per_sample((1.0 - x) * y)
        num = i + smooth
        den = i + alpha * fp + beta * fn + (smooth + eps)
        ratio = num / den
        value = 1.0 - ratio
        # d num / dx = y, d den / dx = y + alpha (1 - y) - beta y; likewise in y.
        n_e, d_e = _expand(num, x), _expand(den, x)
        dden_x = y + alpha * (1.0 - y) - beta * y
        dden_y = x - alpha * x + beta * (1.0 - x)
        gx = (n_e * dden_x - y * d_e) / (d_e * d_e)
        gy = (n_e * dden_y - x * d_e) / (d_e * d_e)
        # Scales: the sums as a framework may form them (FP as sum(x) - I, as optax
        # does), each with the rounding of an n-term sum.
        f = summation_factor(int(np.prod(x.shape[1:])) if x.ndim >= 2 else x.size)
        sxy = _per_sample(np.abs(x * y))
        s_num = sxy + abs(smooth)
        s_sums = sxy + abs(alpha) * (_per_sample(np.abs(x)) + sxy) + abs(beta) * (
            _per_sample(np.abs(y)) + sxy)
        s_den = s_sums + abs(smooth) + abs(eps)
        adn = np.abs(den)
        scale = 1.0 + np.abs(ratio) + f * (s_num + np.abs(ratio) * s_den) / adn
        s_num_e, s_den_e, adn_e = _expand(s_num, x), _expand(s_den, x), _expand(adn, x)
        sx = np.abs(y) + abs(alpha) * (1.0 + np.abs(y)) + abs(beta) * np.abs(y)
        sy = np.abs(x) + abs(alpha) * np.abs(x) + abs(beta) * (1.0 + np.abs(x))
        xscale = (f * (s_num_e * sx + np.abs(y) * s_den_e) + np.abs(n_e) * sx) / (adn_e * adn_e) \
            + 2.0 * f * np.abs(gx) * s_den_e / adn_e
        yscale = (f * (s_num_e * sy + np.abs(x) * s_den_e) + np.abs(n_e) * sy) / (adn_e * adn_e) \
            + 2.0 * f * np.abs(gy) * s_den_e / adn_e
        if from_logits:
            # sigmoid'(z) = x (1 - x), here without the cancellation; autodiff forms 1 - x,
            # whose absolute error (eps, the size of the 1) the scale counts.
            dsig = x * _sigmoid(-input)
            gx, xscale = gx * dsig, xscale * dsig + np.abs(gx) * (dsig + x)
        # condition: dt/ds = -(alpha FP + beta FN + eps) / den^2, dt/dalpha = num FP / den^2,
        # dt/dbeta = num FN / den^2; the derivatives in x, y are the gradients above
        den2 = den * den
        parts = [(_per_sample(times(np.abs(gx), np.abs(input))), 1.0),
                 (_per_sample(times(np.abs(gy), np.abs(y))), 1.0),
                 ((alpha * fp + beta * fn + eps) / den2, np.asarray(smooth, x.dtype))]
        if weights_are_parameters:
            parts += [(num * fp / den2, np.asarray(alpha, x.dtype)), (num * fn / den2, np.asarray(beta, x.dtype))]
        cond = condition(value, *parts)
        # the sums of I, FP (or sum(x)) and FN (or sum(y)), each through |d t / d num| = 1 / |den|
        # or |d t / d den| = |ratio| / |den|
        sums = (f - 1.0) * (sxy + np.abs(ratio) * s_sums) / adn
    grads = {"input": (gx, gx), "target": (gy, gy)}
    return reduce(value, scale, grads, {"input": xscale, "target": yscale}, reduction,
                  condition=cond, sums=sums)


def dice(input: np.ndarray, target: np.ndarray, *, smooth: float = 0.0, from_logits: bool = False,
         eps: float = 0.0, reduction: str = "mean") -> Evaluation:
    r"""Dice loss per sample, :math:`1 - (2\sum x y + s) / (\sum x + \sum y + s)`.

    keras.losses.Dice (https://www.tensorflow.org/api_docs/python/tf/keras/losses/Dice):
    ``1 - 2 sum(y x) / (sum(y) + sum(x) + epsilon)`` over ``axis`` (default None:
    every axis, the whole batch as one sample), epsilon = keras.config.epsilon() =
    1e-7 in the denominator (keras/src/losses/losses.py, dice): the knob ``eps``.
    optax.losses.binary_dice_loss / dice_loss
    (https://optax.readthedocs.io/en/latest/api/losses.html): sigmoid of logits,
    ``1 - (I + smooth) / (I + (P - I)/2 + (T - I)/2 + smooth)`` per sample and class,
    summed over the axes between the first and the last: their ``smooth`` is s/2.
    torch.nn has none.
    """
    return _overlap(input, target, 0.5, 0.5, 0.5 * smooth, 0.5 * eps, from_logits, reduction, False)


def tversky(input: np.ndarray, target: np.ndarray, *, alpha: float = 0.5, beta: float = 0.5,
            smooth: float = 0.0, from_logits: bool = False, eps: float = 0.0,
            reduction: str = "mean") -> Evaluation:
    r"""Tversky loss per sample, :math:`1 - (I + s) / (I + \alpha FP + \beta FN + s)`.

    keras.losses.Tversky (https://www.tensorflow.org/api_docs/python/tf/keras/losses/Tversky):
    "alpha: the coefficient controlling incidence of false positives", epsilon =
    1e-7 added to the denominator (the knob ``eps``; its code weighs
    sum(y (1 - x)), the false negatives, by alpha: see the findings).
    optax.losses.dice_loss(alpha, beta, smooth) on logits
    (https://optax.readthedocs.io/en/latest/api/losses.html): alpha weighs
    P - I = FP, beta T - I = FN, as here. torch.nn has none. alpha = beta = 1/2
    is Dice; alpha = beta = 1 is the Jaccard (IoU) loss.
    """
    return _overlap(input, target, alpha, beta, smooth, eps, from_logits, reduction, True)


FUNCTIONS = {"log_cosh": log_cosh, "mape": mape, "msle": msle, "dice": dice, "tversky": tversky}
