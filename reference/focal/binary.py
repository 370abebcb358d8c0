"""The binary (sigmoid) focal loss; the categorical focal loss and PolyLoss-1
(softmax) are in ``softmax``.

The focal factor :math:`(1 - p_t)^\\gamma` is computed from the log domain,
:math:`\\log(1 - p_t) = \\log(y\\,\\sigma(-x) + (1 - y)\\,\\sigma(x))` with log-sigmoids, so
the oracle stays accurate where :math:`1 - p_t` underflows (huge logits) and its
gradient has no :math:`0 \\cdot \\infty` for :math:`\\gamma < 1`.

Error scales follow the documented algorithm: the factor is computed as
``1 - p_t`` (Keras, torchvision, the Lin et al. formula), so its rounding is
measured against the summands 1 and :math:`p_t`, propagated through the power
(:math:`\\gamma u^{\\gamma - 1}`) and the products by the product rule.
"""
from __future__ import annotations

import numpy as np

from .._common import (DomainError, Evaluation, check_same_shape, check_unit_interval, condition, exact, reduce,
                       times)
from .softmax import check_focal_parameters, power, scaled, xlog


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow."""
    return np.logaddexp(z.dtype.type(0), z)


def _safe_exp(log_values: np.ndarray, *zero_where: np.ndarray) -> np.ndarray:
    """exp(log_values), exactly 0 where any mask holds: a factor that is exactly 0
    silences the others (0 * inf = 0: the limit along the data)."""
    out = np.exp(log_values)
    for mask in zero_where:
        out = np.where(mask, np.zeros_like(out), out)
    return out


def _logit_parts(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Cross-entropy on logits and the pieces of the focal factor's derivative."""
    sp_pos, sp_neg = _softplus(x), _softplus(-x)          # -log(1 - s), -log(s)
    finite_x = np.where(np.isfinite(x), np.abs(x), np.zeros_like(x))
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))  # sigma(x) and sigma(-x) = 1 - sigma(x),
    s_neg = np.where(x >= 0, e / (1.0 + e), 1.0 / (1.0 + e))   # each to a few ulps
    s, s_neg = np.where(np.isnan(x), x, s), np.where(np.isnan(x), x, s_neg)
    u_x = (1.0 - 2.0 * y)                                  # du/dx = (1 - 2y) s (1 - s)
    return {
        "ce": times(y, sp_neg) + times(1.0 - y, sp_pos),
        # bce_with_logits' convention: |x| sizes the rounding of max(x, 0) - x y + log1p(.)
        "ce_scale": (np.abs(y) + np.abs(1.0 - y)) * (finite_x + 1.0),
        "ce_z": times(1.0 - y, s) - times(y, s_neg),        # s - y, without cancelling 1 - s
        "ce_z_scale": 2.0 * (np.abs(y) + np.abs(1.0 - y)),
        "log_u": np.logaddexp(np.log(y) - sp_pos, np.log1p(-y) - sp_neg),
        "u": times(y, s_neg) + times(1.0 - y, s),
        "log_uz": np.log(np.abs(u_x)) - sp_neg - sp_pos,   # log |du/dx|
        "sign_uz": np.sign(u_x),
        "u_scale": np.full_like(x, 3.0),    # 1 - p_t of the probability s: 1, p_t and the rounding of s
        # |d/dy| of 1 - p_t, of ce and of dce/dx; log of du/dx's factor s (1 - s)
        "u_y": np.abs(s_neg - s), "ce_y": finite_x, "cez_y": np.ones_like(x), "log_s": -sp_neg - sp_pos,
        "du_dy": s_neg - s, "dce_dy": sp_neg - sp_pos,       # d(1 - p_t)/dy, d ce/dy (= -x)
    }


def _prob_parts(p: np.ndarray, y: np.ndarray, prob_clip) -> dict[str, np.ndarray]:
    """Cross-entropy on probabilities (optionally clipped: Keras's policy touches the
    cross-entropy only, not the focal factor) and the pieces of the factor."""
    pc = p
    if prob_clip is not None:
        lo, hi = prob_clip if isinstance(prob_clip, tuple) else (prob_clip, 1.0 - prob_clip)
        pc = np.clip(p, lo, hi)
    one = p.dtype.type(1)
    lp, l1p = np.log(pc), np.log1p(-pc)
    pos, neg = times(y, lp), times(one - y, l1p)
    ce_z = times(one - y, one / (one - pc)) - times(y, one / pc)
    if prob_clip is not None:                               # the clip's gradient is 0 outside
        ce_z = np.where((p < lo) | (p > hi), np.zeros_like(ce_z), ce_z)
    u = times(y, one - p) + times(one - y, p)
    u_x = one - 2.0 * y
    return {
        "ce": -(pos + neg),
        "ce_scale": np.abs(pos) + np.abs(neg) + np.abs(y) + np.abs(one - y),
        "ce_z": ce_z,
        "ce_z_scale": np.abs(times(y, one / pc)) + np.abs(times(one - y, one / (one - pc))),
        "log_u": np.log(u),
        "u": u,
        "log_uz": np.log(np.abs(u_x)),
        "sign_uz": np.sign(u_x),
        "u_scale": one + (one - u),         # 1 - p_t: the summands 1 and p_t
        "u_y": np.abs(one - 2.0 * p), "ce_y": np.abs(lp - l1p), "cez_y": one / pc + one / (one - pc),
        "log_s": np.zeros_like(p),
        "du_dy": one - 2.0 * p, "dce_dy": l1p - lp,
    }


def binary_focal(input: np.ndarray, target: np.ndarray, *, gamma: float = 2.0, alpha: float | None = None,
                 label_smoothing: float = 0.0, from_logits: bool = True, reduction: str = "mean",
                 prob_clip: float | tuple[float, float] | None = None) -> Evaluation:
    r"""Binary focal loss (Lin et al. 2017, https://arxiv.org/abs/1708.02002), elementwise:

    .. math::
        \ell = -w\,(1 - p_t)^\gamma\,[y \log p + (1 - y) \log(1 - p)],\quad
        1 - p_t = y (1 - p) + (1 - y) p,\quad w = \alpha y + (1 - \alpha)(1 - y)

    with :math:`p = \sigma(x)` (``from_logits``, the default) or :math:`p` the input
    probability, :math:`y` the (soft) label after smoothing
    :math:`y \leftarrow y (1 - \varepsilon) + \varepsilon / 2`, and :math:`w = 1` when
    ``alpha`` is None. :math:`\gamma = 0` is binary cross-entropy.

    * optax.losses.sigmoid_focal_loss(logits, labels, alpha=None, gamma)
      (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.sigmoid_focal_loss):
      logits only, soft labels allowed, ``alpha=None`` means no weighting, no smoothing;
    * keras.losses.BinaryFocalCrossentropy(apply_class_balancing, alpha, gamma, from_logits,
      label_smoothing)
      (https://keras.io/api/losses/probabilistic_losses/#binaryfocalcrossentropy-class):
      ``apply_class_balancing=True`` is our ``alpha``; the smoothing squeezes labels
      towards 0.5 as here; Keras averages over the last axis first.

    Policy ``prob_clip``: Keras computes the cross-entropy of probabilities with
    ``clip(p, 1e-7, 1 - 1e-7)`` (not the focal factor, which uses ``p`` as given).
    The gradient is taken with respect to the input only: the label enters the focal
    factor through :math:`p_t`, and the catalog does not declare it differentiable.
    Where the cross-entropy is infinite (a probability of exactly 0 or 1 against a
    label it excludes) the gradient is the limit :math:`w f\, \partial ce / \partial p`
    (the pole outgrows the factor's term, which holds the logarithm).
    At infinite logits the value is the limit (0 or +inf) and the gradient the limit
    of the logistic part.
    """
    check_same_shape(input, target)
    check_focal_parameters(gamma, alpha, label_smoothing)
    check_unit_interval("target", target)
    if not from_logits:
        check_unit_interval("input (probabilities, from_logits=False)", input)
    one = input.dtype.type(1)
    y = target if not label_smoothing else target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        d = _logit_parts(input, y) if from_logits else _prob_parts(input, y, prob_clip)
        ce, log_u, u = d["ce"], d["log_u"], d["u"]
        f = power(u, log_u, gamma)                           # (1 - p_t)^gamma, 0^0 = 1
        if alpha is None:
            w, w_scale = one, np.zeros_like(y)
        else:
            w = alpha * y + (1.0 - alpha) * (one - y)
            w_scale = np.abs(alpha * y) + np.abs((1.0 - alpha) * (one - y))
        value = w * times(f, ce)
        zero_u, zero_ce = u == 0, ce == 0
        # gamma u^(gamma-1) Eu: the factor's error from 1 - p_t (none where u is exactly 0)
        f_err_ce = scaled(gamma, d["u_scale"] * _safe_exp(np.log(ce) + xlog(gamma - 1.0, log_u), zero_u, zero_ce))
        scale = w_scale * np.abs(value / np.where(w == 0, one, w)) + np.abs(w) * (
            times(f, ce) + f_err_ce + times(f, d["ce_scale"]))
        # d/dz [f(u) ce] = gamma u^(gamma-1) (du/dz) ce + f dce/dz; K = u^(gamma-1) (du/dz) ce
        log_k = d["log_uz"] + np.log(ce) + xlog(gamma - 1.0, log_u)
        at_limit = np.isnan(log_k) & ~np.isnan(input) & ~np.isnan(y)   # infinite logits: K -> 0
        # an infinite cross-entropy (p = 0 or 1 against a label it excludes): the pole of
        # dce/dp outgrows the logarithm in ce, the limit of the gradient is f dce/dp
        log_k = np.where(at_limit | zero_ce | np.isinf(ce), -np.inf, log_k)
        k = d["sign_uz"] * np.exp(log_k)
        inner = scaled(gamma, k) + times(f, d["ce_z"])
        grad = w * inner
        # |K| (2 + |gamma - 1| Eu / u + Ece / ce): the relative errors of its three factors
        k_scale = (2.0 * np.abs(k)
                   + _safe_exp(log_k + np.log(abs(gamma - 1.0) * d["u_scale"]) - log_u, zero_u)
                   + _safe_exp(log_k + np.log(d["ce_scale"]) - np.log(ce), zero_ce))
        f_scale = f + scaled(gamma, d["u_scale"] * _safe_exp(xlog(gamma - 1.0, log_u), zero_u))
        gscale = w_scale * np.abs(inner) + np.abs(w) * (
            scaled(gamma, k_scale) + times(np.abs(d["ce_z"]), f_scale) + times(f, d["ce_z_scale"]))
        if label_smoothing:
            e_y = np.abs(target * (1.0 - label_smoothing)) + 0.5 * label_smoothing
            d_value, d_grad = _label_sensitivity(d, y, f, w, inner, gamma, alpha, zero_u, zero_ce)
            scale, gscale = scale + e_y * d_value, gscale + e_y * d_grad
        cond = condition(value, *_condition_parts(d, input, target, y, f, w, grad, gamma, alpha, label_smoothing))
    return reduce(value, scale, {"input": exact(grad)}, {"input": gscale}, reduction, condition=cond)


def _condition_parts(d, x, target, y, f, w, grad, gamma, alpha, label_smoothing):
    """(derivative, input) pairs of the condition of ``w f(u) ce``: the input (its
    gradient), the label (through w, 1 - p_t and ce; y = t (1 - ls) + ls / 2, so
    d/dt = (1 - ls) d/dy and d/d ls = (1/2 - t) d/dy), gamma (w f log(u) ce) and
    alpha (d w / d alpha = 2 y - 1)."""
    ce, log_u = d["ce"], d["log_u"]
    zero_ce = ce == 0
    fce = times(f, ce)
    # gamma u^(gamma - 1) (du/dy) ce, from the log domain: u^(gamma-1) ce is 0 where
    # ce is (the factor ce vanishes with u there), inf at u = 0 for gamma < 1
    m_ce = _safe_exp(np.log(ce) + xlog(gamma - 1.0, log_u), zero_ce)
    dw = 2.0 * alpha - 1.0 if alpha is not None else 0.0
    d_y = scaled(dw, fce) + w * (scaled(gamma, times(d["du_dy"], m_ce)) + times(f, d["dce_dy"]))
    parts = [(grad, x), (scaled(1.0 - label_smoothing, d_y), target)]
    if label_smoothing:
        parts.append((times(d_y, 0.5 - target), label_smoothing))
    parts.append((w * times(fce, log_u), gamma))
    if alpha is not None:
        parts.append(((2.0 * y - 1.0) * fce, alpha))
    return parts


def _label_sensitivity(d, y, f, w, inner, gamma, alpha, zero_u, zero_ce):
    """Bounds of |d value / dy| and |d grad / dy| for the smoothed label y: computed as
    y (1 - ls) + ls / 2, it is rounded, and 1 - y (in w, 1 - p_t and the cross-entropy)
    turns that rounding into an absolute error (alpha near 0 or 1 leaves nothing else)."""
    ce, log_u, one = d["ce"], d["log_u"], y.dtype.type(1)
    dw = abs(2.0 * alpha - 1.0) if alpha is not None else 0.0
    u_pow = _safe_exp(xlog(gamma - 1.0, log_u), zero_u)                       # u^(gamma - 1)
    m_ce = _safe_exp(np.log(ce) + xlog(gamma - 1.0, log_u), zero_u, zero_ce)  # u^(gamma - 1) ce
    aw = np.abs(w) * np.ones_like(y)
    d_value = scaled(dw, times(f, ce)) + aw * (scaled(gamma, d["u_y"] * m_ce) + times(f, d["ce_y"]))
    # K = u^(gamma-1) (1 - 2y) S ce: d/dy of each factor in turn
    log_m1 = d["log_s"] + np.log(ce) + xlog(gamma - 1.0, log_u)
    a = abs(gamma - 1.0) * d["u_y"] * np.abs(one - 2.0 * y) * _safe_exp(log_m1 - log_u, zero_u, zero_ce)
    b = 2.0 * _safe_exp(log_m1, zero_u, zero_ce)
    c = np.abs(one - 2.0 * y) * times(d["ce_y"], _safe_exp(d["log_s"] + xlog(gamma - 1.0, log_u), zero_u))
    d_grad = scaled(dw, np.abs(inner)) + aw * (times(f, d["cez_y"]) + scaled(gamma, times(np.abs(d["ce_z"]), d["u_y"] * u_pow))
                                               + scaled(gamma, a + b + c))
    return d_value, d_grad


__all__ = ["DomainError", "binary_focal"]
