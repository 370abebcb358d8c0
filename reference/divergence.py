"""Divergences and likelihoods: torch.nn.KLDivLoss (log-probability input, target
probabilities or log-probabilities), optax's generalized (unnormalised) KL
divergence, torch.nn.PoissonNLLLoss and torch.nn.GaussianNLLLoss (their exact
mathematics: log y! in full, no eps, no clamp of the variance; torch's Stirling
term, eps and clamp are policy knobs).

Conventions shared by the family:
* ``0 log 0 = 0``: a target probability of 0 contributes nothing, even where the
  prediction's log-probability is -inf (the KL term of an impossible outcome);
* the derivative of ``t log t`` at ``t = 0`` is its one-sided limit, -inf;
* a NaN in any argument makes the element's value and every gradient NaN (the
  ``0 * anything = 0`` convention is for zero probabilities, not for NaN).
"""
from __future__ import annotations

import math

import numpy as np

from ._common import DomainError, Evaluation, check_same_shape, condition, exact, reduce, times
from .gamma import digamma, log_factorial

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def nan_where(bad: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``a`` with NaN where ``bad`` (an element with a NaN argument)."""
    return np.where(bad, np.nan, a)


def part(derivative: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ``condition`` part |d| |x| with 0 * inf = 0 either way round (a zero
    probability, whose log is -inf, moves nothing)."""
    d, a = np.broadcast_arrays(np.abs(derivative), np.abs(x))
    return np.where((d == 0) | (a == 0), np.zeros_like(d), d * a), np.ones((), d.dtype)


def clip_bounds(v: np.ndarray, lo: float, hi: float, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the derivative of f(clip(v, lo, hi)) with d f(v)/dv = g: g strictly
    inside, 0 outside, the segment between 0 and g at either edge (the clip's
    corner), NaN where v is NaN."""
    zero = np.zeros_like(g)
    inside = (v > lo) & (v < hi)
    edge = (v == lo) | (v == hi)
    full = np.where(inside, g, np.where(np.isnan(v), np.nan, zero))
    return np.where(edge, np.minimum(zero, g), full), np.where(edge, np.maximum(zero, g), full)


def kl_div(input: np.ndarray, target: np.ndarray, *, log_target: bool = False,
           reduction: str = "mean", prob_clip: tuple[float, float] | None = None) -> Evaluation:
    r"""Pointwise KL divergence, :math:`\ell = t (\log t - x)` (``log_target``:
    :math:`e^{t} (t - x)`), ``x`` the input's log-probabilities, with
    :math:`0 \log 0 = 0`.

    torch.nn.KLDivLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html):
    ``L(y_pred, y_true) = y_true * (log y_true - y_pred)``, target of the input's
    shape; 'mean' averages over every element, 'batchmean' divides the sum by the
    size of the first dimension (the KL divergence of a batch of rows).
    optax.losses.kl_divergence / kl_divergence_with_log_targets
    (https://optax.readthedocs.io/en/latest/api/losses.html) compute the same
    terms and sum them over ``axis`` (default -1).

    ``prob_clip = (lo, hi)``: Keras's convention
    (https://keras.io/api/losses/probabilistic_losses/#kldivergence-class):
    ``keras.losses.kl_divergence(y_true, y_pred)`` clips both probabilities to
    ``[epsilon, 1]`` before ``y_true * log(y_true / y_pred)``; here
    ``y_pred = exp(input)`` and ``y_true = target`` (``exp(target)`` with
    ``log_target``), and the clip's derivative is 0 outside the interval.

    Condition: the input and the target elements (the clip's bounds are a
    framework's constants, given exactly in the dtype, not inputs).
    """
    check_same_shape(input, target)
    x, t = input, target
    with np.errstate(all="ignore"):
        bad = np.isnan(x) | np.isnan(t)
        if prob_clip is not None:
            terms, scale, gx, gt, sx, st = _kl_clipped(x, t, log_target, prob_clip)
            cond = condition(terms, part(_larger(gx), x), part(_larger(gt), t))
        elif log_target:
            p = np.exp(t)
            terms = times(p, t - x)
            scale = times(p, np.abs(t) + np.abs(x))
            gx, sx = exact(-p), p
            gt, st = exact(times(p, t - x + 1.0)), times(p, np.abs(t) + np.abs(x) + 1.0)
            cond = condition(terms, part(gx[0], x), part(gt[0], t))
        else:
            logt = np.log(t)
            terms = times(t, logt - x)
            scale = times(t, np.abs(logt) + np.abs(x))
            gx, sx = exact(-t), np.abs(t)
            gt, st = exact(logt + 1.0 - x), np.abs(logt) + np.abs(x) + 1.0
            cond = condition(terms, part(gx[0], x), part(gt[0], t))
        terms = nan_where(bad, terms)
        grads = {"input": tuple(nan_where(bad, b) for b in gx), "target": tuple(nan_where(bad, b) for b in gt)}
        cond = nan_where(bad, cond)
    return reduce(terms, scale, grads, {"input": sx, "target": st}, reduction, condition=cond)


def _larger(bounds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The derivative's size for the condition: the larger of the bounds at a kink."""
    return np.maximum(np.abs(bounds[0]), np.abs(bounds[1]))


def _kl_clipped(x, t, log_target, clip):
    lo, hi = clip
    q = np.exp(x)
    pt = np.exp(t) if log_target else t
    yp, yt = np.clip(q, lo, hi), np.clip(pt, lo, hi)
    ratio = np.log(yt) - np.log(yp)
    terms = yt * ratio
    scale = yt * (np.abs(np.log(yt)) + np.abs(np.log(yp)) + 2.0)
    # d/dy_pred = -y_true / y_pred and d y_pred/dx = exp(x) = y_pred inside the clip
    gx = clip_bounds(q, lo, hi, -yt)
    dpt = pt if log_target else np.ones_like(t)
    gt = clip_bounds(pt, lo, hi, (ratio + 1.0) * dpt)
    return terms, scale, gx, gt, np.abs(yt), (np.abs(ratio) + 1.0) * np.abs(dpt)


def generalized_kl_divergence(input: np.ndarray, target: np.ndarray, *,
                              reduction: str = "mean") -> Evaluation:
    r"""Generalized KL divergence of unnormalised distributions,
    :math:`\ell = t \log t - t x + e^{x} - t` (``x`` the log-prediction, ``t >= 0``,
    :math:`0 \log 0 = 0`): the Bregman divergence of :math:`f(p) = p \log p - p`.

    optax.losses.generalized_kl_divergence(log_predictions, targets, axis=-1)
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.generalized_kl_divergence):
    ``kl_divergence(log_predictions, targets) + sum(exp(log_predictions) - targets)``
    along ``axis``; optax.losses.convex_kl_divergence is its deprecated alias
    (same arguments, same value). Here the terms are elementwise ('none') and the
    reductions are those of torch.nn.KLDivLoss ('batchmean' = optax's per-row
    sums averaged over the rows of a 2-D input).
    """
    check_same_shape(input, target)
    x, t = input, target
    with np.errstate(all="ignore"):
        bad = np.isnan(x) | np.isnan(t)
        q, logt = np.exp(x), np.log(t)
        terms = nan_where(bad, times(t, logt - x) + q - t)
        scale = times(t, np.abs(logt) + np.abs(x)) + q + np.abs(t)
        gx = nan_where(bad, q - t)
        gt = nan_where(bad, logt - x)
        grads = {"input": exact(gx), "target": exact(gt)}
        scales = {"input": q + np.abs(t), "target": np.abs(logt) + np.abs(x) + 1.0}
        cond = nan_where(bad, condition(terms, part(gx, x), part(gt, t)))
    return reduce(terms, scale, grads, scales, reduction, condition=cond)


def poisson_nll(input: np.ndarray, target: np.ndarray, *, log_input: bool = True, full: bool = False,
                eps: float = 1e-8, reduction: str = "mean", fixed_eps: float | None = None,
                rate_eps: bool = False, stirling: tuple[float, float] | None = None) -> Evaluation:
    r"""Poisson negative log-likelihood of counts ``y`` (real ``y >= 0`` too).

    ``log_input``: :math:`\ell = e^{x} - y x` (``x`` the log-rate); otherwise
    :math:`\ell = x - y \log x` (``x`` the rate). ``full`` adds
    :math:`\log y! = \log\Gamma(y + 1)` exactly (``log_factorial``; NaN for a negative
    count, which is no count). :math:`0 \cdot \log 0 = 0`: a zero count contributes no
    ``y x`` term, so a zero rate (``x = -inf``, or ``x = 0``) and a zero count cost 0;
    a positive count at a zero rate costs +inf. The parameter ``eps`` is not part of
    the mathematics: it enters only through the knob ``rate_eps``.

    torch.nn.PoissonNLLLoss(log_input, full, eps)
    (https://pytorch.org/docs/stable/generated/torch.nn.PoissonNLLLoss.html):
    documents ``input - target * log(input) + log(target!)``, target of the input's
    shape; tf.nn.log_poisson_loss(targets, log_input, compute_full_loss)
    (https://www.tensorflow.org/api_docs/python/tf/nn/log_poisson_loss) is the
    ``log_input`` case.

    Policy knobs (documented departures from the mathematics):

    * ``stirling = (lo, hi)``: ``full`` adds the Stirling approximation
      :math:`y \log y - y + \tfrac12 \log(2 \pi y)` in place of :math:`\log y!`, and 0
      where ``lo <= y <= hi`` — torch, ``(-inf, 1)`` ("full: whether to compute full
      loss, i. e. to add the Stirling approximation term ...; The approximation is used
      for target values more than 1. For targets less or equal to 1 zeros are added to
      the loss"); tf.nn.log_poisson_loss(compute_full_loss=True), ``(0, 1)`` (the same
      term, 0 where ``0 <= targets <= 1``: NaN for a negative target, log of a negative);
    * ``rate_eps``: the rate form is :math:`x - y \log(x + \text{eps})` with the
      case's own ``eps`` — torch ("eps: Small value to avoid evaluation of log(0)
      when log_input = False");
    * ``fixed_eps``: the same with a framework's constant in place of ``eps`` —
      keras.losses.poisson (https://keras.io/api/losses/probabilistic_losses/#poisson-function)
      computes ``y_pred - y_true * log(y_pred + epsilon)``, epsilon = 1e-7.

    Condition: the input and the counts (real numbers to the formula: ``full`` adds
    :math:`\psi(y + 1)` to their derivative, ``stirling`` :math:`\log y + 1/(2y)`)
    and, with ``rate_eps``, the parameter ``eps``
    (:math:`\partial \ell / \partial \text{eps} = -y / (x + \text{eps})`; a
    ``fixed_eps`` is a framework's constant, exact in the dtype, not an input).
    """
    check_same_shape(input, target)
    x, y = input, target
    e = fixed_eps if fixed_eps is not None else (eps if rate_eps else None)
    with np.errstate(all="ignore"):
        bad = np.isnan(x) | np.isnan(y)
        if log_input:
            q = np.exp(x)
            terms = q - times(y, x)
            scale = q + times(np.abs(y), np.abs(x))
            g, gscale = q - y, q + np.abs(y)
            gy, parts = -x, []
        else:
            z = x if e is None else x + e
            logz = np.log(z)
            terms = x - times(y, logz)
            # log(x + eps) is taken of a rounded sum: an absolute error of eps(dtype)
            scale = np.abs(x) + times(np.abs(y), np.abs(logz) + (0.0 if e is None else 1.0))
            g = 1.0 - times(y, 1.0 / z)
            gscale = 1.0 + times(np.abs(y), 1.0 / np.abs(z))
            gy = -logz
            parts = [part(times(y, 1.0 / z), np.asarray(eps))] if rate_eps and fixed_eps is None else []
        if full and stirling is not None:
            big = ~((y >= stirling[0]) & (y <= stirling[1]))
            safe = np.where(big, y, np.ones_like(y))
            logy = np.log(safe)
            approx = safe * logy - safe + 0.5 * np.log(2.0 * math.pi * safe)
            terms = terms + np.where(big, approx, np.zeros_like(y))
            scale = scale + np.where(big, safe * np.abs(logy) + safe + np.abs(0.5 * np.log(2.0 * math.pi * safe)),
                                     np.zeros_like(y))
            gy = gy + np.where(big, logy + 0.5 / safe, np.zeros_like(y))
        elif full:
            lf = log_factorial(y)
            psi = digamma(np.asarray(y, np.float64) + 1.0).astype(lf.dtype)
            terms = terms + lf
            # a correct log Gamma is accurate to its condition |log y!| + |y psi(y + 1)|
            scale = scale + np.abs(lf) + np.abs(times(y, psi))
            gy = gy + psi
        terms = np.where(bad, np.nan, terms)
        g = np.where(bad, np.nan, g)
        cond = np.where(bad, np.nan, condition(terms, part(g, x), part(gy, y), *parts))
    return reduce(terms, scale, {"input": exact(g)}, {"input": gscale}, reduction, condition=cond)


def fit_shape(name: str, a: np.ndarray, shape: tuple[int, ...], *, fewer: bool = False) -> np.ndarray:
    """``a`` as it broadcasts onto the input's ``shape`` under torch.nn.GaussianNLLLoss's
    documented rule: the same shape; the same shape but with one dimension equal to 1;
    or (``var`` only, ``fewer``) one dimension fewer, the last one, shared
    (``a[..., None]``, not NumPy's broadcasting from the left)."""
    if a.shape == shape:
        return a
    if fewer and len(shape) >= 1 and a.shape == shape[:-1]:
        return a[..., None]
    if a.ndim == len(shape):
        differ = [i for i, (s, u) in enumerate(zip(shape, a.shape)) if s != u]
        if len(differ) == 1 and a.shape[differ[0]] == 1:
            return a
    rule = "the input's shape, or it with one dimension equal to 1" + (
        ", or it without its last dimension" if fewer else "")
    raise DomainError(f"{name} of shape {a.shape} does not fit the input's shape {shape}: expected {rule}")


def sum_to(g: np.ndarray, fitted: tuple[int, ...], original: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient of the broadcast shape back to the argument's own shape."""
    axes = tuple(i for i, (f, s) in enumerate(zip(fitted, g.shape)) if f == 1 and s != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(original)


def gaussian_nll(input: np.ndarray, target: np.ndarray, var: np.ndarray, *, full: bool = False,
                 eps: float = 1e-6, reduction: str = "mean", var_clamp: bool = False,
                 var_gradient: str = "clamped") -> Evaluation:
    r"""Gaussian negative log-likelihood,
    :math:`\ell = \tfrac12 \bigl(\log v + (x - y)^2 / v\bigr)` (``full``:
    :math:`+ \tfrac12 \log 2\pi`), ``v`` the variance, with no clamp: the parameter
    ``eps`` enters only through the knob ``var_clamp``.

    ``v = 0`` (a variance of 0 is accepted, as torch accepts it; a negative one is
    refused) lies outside what the formula defines (log 0, and 0/0 where x = y).
    There the oracle returns the limits as ``v -> 0+`` at fixed input and target:
    the value is +inf where ``x != y`` (the quadratic term dominates) and -inf where
    ``x = y`` (only the log is left: the quadratic term is 0 for every v > 0); the
    gradient in ``x`` is :math:`(x - y)/v` = ±inf (0 where ``x = y``), in ``y`` its
    negative, and in ``v``, :math:`\tfrac12 (1 - (x - y)^2 / v) / v`, is -inf where
    ``x != y`` and +inf where ``x = y``.

    torch.nn.GaussianNLLLoss(full, eps)
    (https://pytorch.org/docs/stable/generated/torch.nn.GaussianNLLLoss.html):
    ``var`` of the input's shape (heteroscedastic), or with one dimension equal
    to 1, or without the last dimension (shared variance); target of the input's
    shape or with one dimension equal to 1; a negative variance is refused
    ("var has negative entry/entries"). optax and Keras have no Gaussian NLL.

    Policy knobs (torch's documented departures from the mathematics):

    * ``var_clamp``: the variance is clamped from below with the case's own ``eps``,
      :math:`\ell = \tfrac12 (\log \max(v, \text{eps}) + (x - y)^2 / \max(v, \text{eps}))`
      (torch: "eps: value used to clamp var (see note below), for stability"). The
      gradient is then that of the clamped formula: with respect to ``v`` it is 0
      where ``v < eps`` and, at ``v = eps``, any value between 0 and the unclamped one;
    * ``var_gradient = "straight_through"`` (with ``var_clamp``): torch's note "The
      clamping of var is ignored with respect to autograd, and so the gradients are
      unaffected by it": the derivative of the unclamped formula at ``max(v, eps)``.

    Condition: input, target and variance elements (``eps`` is drawn among exact
    choices, not an input); a shared target or variance element enters each term
    with that term's own derivative; with ``var_clamp`` the value's derivative in
    ``v`` is the clamped one (0 below eps) whatever ``var_gradient`` says.
    """
    shape = input.shape
    t = fit_shape("target", target, shape)
    v = fit_shape("var", var, shape, fewer=True)
    if np.any(var < 0):
        raise DomainError("var has negative entries: a variance must be >= 0", value_dependent=True)
    if var_gradient not in ("clamped", "straight_through"):
        raise ValueError(f"var_gradient must be 'clamped' or 'straight_through', got {var_gradient!r}")
    x = input
    with np.errstate(all="ignore"):
        tb, vb = np.broadcast_to(t, shape), np.broadcast_to(v, shape)
        bad = np.isnan(x) | np.isnan(tb) | np.isnan(vb)
        vc = np.maximum(vb, eps) if var_clamp else vb
        d = x - tb
        zero_d = d == 0
        # d = 0 at v = 0: the quadratic term and its derivative are 0 for every v > 0
        q = np.where(zero_d, np.zeros_like(d), d * d / vc)
        log_v = np.log(vc)
        terms = np.where((vc == 0) & ~zero_d, np.full_like(d, np.inf), 0.5 * (log_v + q))
        scale = 0.5 * (np.abs(log_v) + q)
        if full:
            terms = terms + HALF_LOG_2PI
            scale = scale + HALF_LOG_2PI
        gx = np.where(zero_d, np.zeros_like(d), d / vc)
        gv = 0.5 * (1.0 - q) / vc
        if not var_clamp:
            gv_lo = gv_hi = gv_value = gv
        else:
            bounds = _clamp_bounds(vb, eps, gv)
            gv_lo, gv_hi = (gv, gv) if var_gradient == "straight_through" else bounds
            gv_value = np.maximum(*map(np.abs, bounds))     # of the clamped value

        def nan(a: np.ndarray) -> np.ndarray:
            return np.where(bad, np.nan, a)
        gx_scale = np.abs(gx)
        gv_scale = 0.5 * (1.0 + q) / vc
        cond = nan(condition(terms, (gx, x), (gx, tb), (gv_value, vb)))
        grads = {
            "input": exact(nan(gx)),
            "target": exact(sum_to(nan(-gx), t.shape, target.shape)),
            "var": (sum_to(nan(gv_lo), v.shape, var.shape), sum_to(nan(gv_hi), v.shape, var.shape)),
        }
        scales = {"input": gx_scale, "target": sum_to(gx_scale, t.shape, target.shape),
                  "var": sum_to(gv_scale, v.shape, var.shape)}
        terms = nan(terms)
    return reduce(terms, scale, grads, scales, reduction, condition=cond)


def _clamp_bounds(v: np.ndarray, eps: float, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Derivative bounds of f(max(v, eps)) with f' = g: g above eps, 0 below, the
    segment between 0 and g at v = eps."""
    zero = np.zeros_like(g)
    at = v == eps
    full = np.where(v > eps, g, zero)
    return np.where(at, np.minimum(zero, g), full), np.where(at, np.maximum(zero, g), full)


FUNCTIONS = {
    "kl_div": kl_div,
    "generalized_kl_divergence": generalized_kl_divergence,
    "convex_kl_divergence": generalized_kl_divergence,
    "poisson_nll": poisson_nll,
    "gaussian_nll": gaussian_nll,
    "gaussian_nll_homoscedastic": gaussian_nll,
}
