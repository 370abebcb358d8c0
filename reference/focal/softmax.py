"""Softmax members of the focal family: the categorical focal loss and PolyLoss-1
cross-entropy (imported into ``reference.focal``'s FUNCTIONS).

Classes are on the LAST axis (Keras's and optax's convention): input and target
of shape (N, C) or unbatched (C,), one loss term per row. ``1 - p_c`` is computed
without cancellation, :math:`\\log(1 - p_c) = \\log\\sum_{j \\ne c} e^{x_j} - \\log\\sum_j e^{x_j}`
(the row's largest logit summed apart), so the focal factor and its gradient stay
accurate when one class takes almost all the mass. Error scales count the summands
1 and :math:`p_c` of the documented ``1 - p`` (see ``reference.focal``).
"""
from __future__ import annotations

import math

import numpy as np

from .._common import (DomainError, Evaluation, check_same_shape, check_unit_interval, condition, exact, reduce,
                       row_sum, times)


def check_focal_parameters(gamma: float, alpha: float | None, label_smoothing: float) -> None:
    if not gamma >= 0.0:
        raise DomainError(f"gamma must be >= 0 (the focusing exponent), got {gamma}")
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise DomainError(f"alpha must lie in [0, 1], got {alpha}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise DomainError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")


def scaled(c: float, a: np.ndarray) -> np.ndarray:
    """c * a for a Python scalar c, exactly 0 when c is 0 (even where a is infinite)."""
    return c * a if c else np.zeros_like(a)


def xlog(e: float, log_u: np.ndarray) -> np.ndarray:
    """e * log(u), 0 when e is 0: exp(xlog(e, log u)) = u^e with 0^0 = 1."""
    return scaled(e, log_u)


def _softmax_rows(rows: np.ndarray) -> dict[str, np.ndarray]:
    """log p, p, log(1 - p) (accurate) and the sizes of what the usual algorithm
    (shift by the row maximum, exp, sum, log) rounds, for rows (M, C)."""
    m_rows, classes = rows.shape
    raw_peak = rows.max(axis=1, keepdims=True) if m_rows else np.zeros((0, 1), rows.dtype)
    peak = np.where(np.isfinite(raw_peak), raw_peak, np.zeros_like(raw_peak))
    shifted = rows - peak
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    # sum of the others' exps: plain for the non-maximal classes (at least the
    # maximum's 1 is in it, no cancellation); for the maximal one, the rest summed
    # apart around the second largest logit (it may lie far below: no underflow)
    top = np.argmax(np.where(np.isnan(rows), -np.inf, rows), axis=1) if classes else np.zeros(m_rows, int)
    rest = rows.copy()
    rest[np.arange(m_rows), top] = -np.inf
    second = rest.max(axis=1, keepdims=True) if m_rows and classes > 1 else np.full((m_rows, 1), -np.inf, rows.dtype)
    second_f = np.where(np.isfinite(second), second, np.zeros_like(second))
    log_rest = (second_f - peak) + np.log(np.exp(rest - second_f).sum(axis=1, keepdims=True))
    # the maximum's exp is 1: total = 1 + rest; summed directly (exact to rounding) unless it underflows
    tiny = np.finfo(rows.dtype).tiny
    rest_direct = np.exp(rest - peak).sum(axis=1, keepdims=True)
    rest_sum = np.where(rest_direct >= tiny, rest_direct, np.exp(log_rest))
    log_total = np.where(np.isfinite(raw_peak), np.log1p(rest_sum), np.log(total))
    log_p = shifted - log_total
    u = (total - e) / total
    u[np.arange(m_rows), top] = (rest_sum / total)[:, 0]
    log_u = np.log(total - e) - log_total
    log_u[np.arange(m_rows), top] = (log_rest - log_total)[:, 0]
    nan_rows = np.isnan(rows).any(axis=1, keepdims=True)
    log_u, u = np.where(nan_rows, np.nan, log_u), np.where(nan_rows, np.nan, u)
    lse_size = np.abs(peak) + np.abs(log_total) + np.log(rows.dtype.type(max(classes, 1))) + 1.0
    return {"log_p": log_p, "p": e / total, "u": u, "log_u": log_u, "shifted": np.abs(shifted), "lse": lse_size}


def power(u: np.ndarray, log_u: np.ndarray, gamma: float) -> np.ndarray:
    """u^gamma (0^0 = 1): pow of u itself where u is a normal number (exp(gamma log u)
    would multiply the rounding of log u by gamma |log u|), the log domain where u underflows."""
    tiny = np.finfo(u.dtype).tiny
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return np.where(u >= tiny, np.power(np.maximum(u, tiny), u.dtype.type(gamma)), np.exp(xlog(gamma, log_u)))


def _exclusive_sum(a: np.ndarray) -> np.ndarray:
    """sum_{c != j} a_c along the last axis, for nonnegative a without cancellation."""
    before = np.concatenate([np.zeros_like(a[:, :1]), np.cumsum(a, axis=1)[:, :-1]], axis=1)
    after = np.concatenate([np.cumsum(a[:, ::-1], axis=1)[:, ::-1][:, 1:], np.zeros_like(a[:, :1])], axis=1)
    return before + after


def u_unclipped(sm: dict[str, np.ndarray], u: np.ndarray, prob_clip) -> np.ndarray:
    """1 - p_j of the softmax itself (the chain rule's factor), not of the clipped o."""
    return u if prob_clip is None else sm["u"]


def _last_axis_rows(input: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    check_same_shape(input, target)
    if input.ndim not in (1, 2):
        raise DomainError(f"input must be (C,) or (N, C) with classes last, got shape {input.shape}")
    classes = input.shape[-1]
    return input.reshape(-1, classes), target.reshape(-1, classes), input.shape[:-1]


def categorical_focal(input: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None = None,
                      gamma: float = 2.0, alpha: float | None = None, label_smoothing: float = 0.0,
                      from_logits: bool = True, reduction: str = "mean",
                      prob_clip: float | tuple[float, float] | None = None, normalize: bool = False,
                      clip_margin: float = 0.0) -> Evaluation:
    r"""Categorical focal loss, per row
    :math:`\ell = -\sum_c a_c\, q_c\, (1 - p_c)^\gamma \log p_c`,
    :math:`p = \mathrm{softmax}(x)` (``from_logits``, the default) or the input
    probabilities as given, :math:`q = (1 - \varepsilon) y + \varepsilon / C`,
    :math:`a_c` = ``weight[c]`` (per-class alpha), else ``alpha``, else 1.

    keras.losses.CategoricalFocalCrossentropy(alpha, gamma, from_logits, label_smoothing)
    (https://keras.io/api/losses/probabilistic_losses/#categoricalfocalcrossentropy-class):
    ``alpha`` "a list of floats or a scalar" (default 0.25: pass 1.0 for none).
    Keras policies (keras/src/losses/losses.py, categorical_focal_crossentropy):
    ``normalize`` divides the probabilities by their row sum, ``prob_clip`` clips
    them to [1e-7, 1 - 1e-7], for the log AND the focal factor (also after softmax);
    ``clip_margin`` (relative): a probability this close to a clip edge may be computed
    on its other side, so the gradient's bounds take both one-sided gradients there.
    Gradient: :math:`\partial \ell / \partial x_j = -B_j + p_j \sum_c B_c`,
    :math:`B_c = a_c q_c [(1 - p_c)^\gamma - \gamma (1 - p_c)^{\gamma - 1} p_c \log p_c]`;
    :math:`\partial \ell / \partial y_c = -(1 - \varepsilon) a_c (1 - p_c)^\gamma \log p_c`.
    A row holding a +inf logit gives NaN (no limit is taken, unlike cross_entropy).
    """
    check_focal_parameters(gamma, alpha, label_smoothing)
    rows, t, out_shape = _last_axis_rows(input, target)
    classes = rows.shape[1]
    check_unit_interval("target", t)
    if not from_logits:
        check_unit_interval("input (probabilities, from_logits=False)", rows)
    if weight is not None:
        if alpha is not None:
            raise DomainError("give a scalar alpha or a per-class weight, not both")
        if weight.shape != (classes,):
            raise DomainError(f"weight (per-class alpha) must have shape ({classes},), got {weight.shape}")
    one = rows.dtype.type(1)
    a = weight if weight is not None else (one if alpha is None else rows.dtype.type(alpha))
    q = t if not label_smoothing else (1.0 - label_smoothing) * t + label_smoothing / classes
    aq = a * q
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if from_logits:
            sm = _softmax_rows(rows)
            p, sizes = sm["p"], sm["shifted"] + sm["lse"]
        else:
            total = rows.sum(axis=1, keepdims=True) if normalize else one
            p, sizes = rows / total, np.ones_like(rows)
        mask = np.ones_like(rows)
        if prob_clip is not None:
            lo, hi = prob_clip if isinstance(prob_clip, tuple) else (prob_clip, 1.0 - prob_clip)
            mask = np.where((p < lo) | (p > hi), np.zeros_like(p), mask)
            o = np.clip(p, lo, hi)
            log_o, log_u = np.log(o), np.log1p(-o)
        else:
            o = p
            log_o, log_u = (sm["log_p"], sm["log_u"]) if from_logits else (np.log(p), np.log1p(-p))
        u = sm["u"] if from_logits and prob_clip is None else np.exp(log_u)
        if not from_logits or prob_clip is not None:
            u = one - o                                    # exact for o >= 1/2
        f = power(u, log_u, gamma)
        if prob_clip is not None:
            # a probability clipped well past an edge is the constant edge: the softmax's
            # rounding (sizes, infinite for a -inf logit) no longer reaches log o or 1 - o
            far = (p < lo - clip_margin * lo) | (p > hi + clip_margin)
            sizes_o = np.where(far, np.zeros_like(sizes), sizes)
        else:
            sizes_o = sizes
        u_scale = one + o * (one + sizes_o)
        neg_log = -log_o
        terms = times(aq * f, neg_log).sum(axis=1)
        # (1 - o)^(gamma - 1) |log o|: the focal factor's error through the log term
        fl = np.where((neg_log == 0) | (u == 0), np.zeros_like(u), np.exp(np.log(neg_log) + xlog(gamma - 1.0, log_u)))
        scale = (times(np.abs(aq) * f, neg_log + sizes_o) + times(np.abs(aq), scaled(gamma, u_scale * fl))).sum(axis=1)
        # B_c o_c-form: V_c = gamma o_c |log o_c| (1 - o_c)^(gamma - 1)
        v = scaled(gamma, times(o, fl))
        u_pow = np.where(u == 0, np.zeros_like(u), np.exp(xlog(gamma - 1.0, log_u)))
        f_scale = f + scaled(gamma, u_scale * u_pow)
        v_rel = np.where(u == 0, np.zeros_like(u), v * abs(gamma - 1.0) * u_scale / u)
        b_full = aq * (f + v)
        b_scale_full = np.abs(aq) * (f_scale + 2.0 * v + v_rel + scaled(gamma, times(o, u_pow) * sizes))
        rel = 2.0 + np.where(u == 0, np.zeros_like(u), abs(gamma - 1.0) * u_scale / u)

        def input_gradient(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """The input's gradient and its scale with the clip's mask m (1: inside)."""
            if from_logits:     # -B_j + p_j sum_c B_c, as -B_j (1 - p_j) + p_j sum_{c != j} B_c
                b, b_scale = times(m, b_full), times(m, b_scale_full)
                return (-b * u_unclipped(sm, u, prob_clip) + p * _exclusive_sum(b),
                        b_scale + p * (one + sizes) * b_scale.sum(axis=1, keepdims=True))
            # d/do_c = -(B_c o_c-form) / o_c, written without dividing 0 by 0
            g_o = -times(m, times(aq, (f / o) + scaled(gamma, fl)))
            gs_o = times(m, times(np.abs(aq), f_scale / o + scaled(gamma, fl) * rel))
            if not normalize:
                return g_o, gs_o
            return ((g_o - times(o, g_o).sum(axis=1, keepdims=True)) / total,
                    (gs_o + times(o, gs_o).sum(axis=1, keepdims=True)) / np.abs(total))
        g, gscale = input_gradient(mask)
        g_hi = g
        if prob_clip is not None and clip_margin:
            # p computed in the dtype may land on the other side of a clip edge it is this
            # close to: the clip's kink, either one-sided gradient is conformant
            near = (np.abs(p - lo) <= clip_margin * lo) | (np.abs(p - hi) <= clip_margin)
            if near.any():
                g_alt, gscale_alt = input_gradient(np.where(near, one - mask, mask))
                g, g_hi, gscale = np.minimum(g, g_alt), np.maximum(g, g_alt), np.maximum(gscale, gscale_alt)
        smooth = 1.0 - label_smoothing
        a_full = a * np.ones_like(rows)
        g_t = smooth * times(a_full * f, neg_log)
        g_t_scale = abs(smooth) * np.abs(a_full) * (times(f, neg_log + sizes_o) + scaled(gamma, u_scale * fl))
        # condition: the input (its gradient, the larger bound near a clip edge), the
        # target, the per-class weight (d/da_c = q_c f_c |log o_c|), alpha (the loss is
        # linear in it), gamma (d/dgamma = -sum_c a_c q_c f_c log(u_c) log o_c) and
        # label smoothing (dq_c/d ls = 1/C - y_c)
        term_c = times(aq * f, neg_log)
        slope_x = np.maximum(np.abs(g), np.abs(g_hi))
        parts = [(row_sum(condition(np.zeros_like(rows), (slope_x, rows), (g_t, t))), 1.0)]
        if weight is not None:
            parts.append((row_sum(np.abs(term_c)), 1.0))
        if alpha is not None:
            parts.append((np.abs(terms), 1.0))
        parts.append((times(term_c, log_u).sum(axis=1), gamma))
        if label_smoothing:
            parts.append((times(a_full * (1.0 / classes - t) * f, neg_log).sum(axis=1), label_smoothing))
        cond = condition(terms, *parts)
        # sums over the C classes: the term's own (summands |a_c q_c f_c log o_c|), the
        # log-sum-exp's exponentials (d loss / d log sum_j e^x_j = sum_c B_c) or the
        # normalizing row sum (d loss / d total = -sum_c (d loss / d o_c) o_c / total)
        moved = np.zeros_like(terms)
        if from_logits:
            moved = times(mask, b_full).sum(axis=1)
        elif normalize:
            moved = times(times(mask, times(aq, (f / o) + scaled(gamma, fl))), o).sum(axis=1)
        sums = math.log2(max(classes, 1)) * (np.abs(term_c).sum(axis=1) + np.abs(moved))
        sums = np.where(np.isfinite(sums), sums, np.zeros_like(sums))
    g_bounds = exact(g.reshape(input.shape)) if g_hi is g else (g.reshape(input.shape), g_hi.reshape(input.shape))
    grads = {"input": g_bounds, "target": exact(g_t.reshape(input.shape))}
    grad_scales = {"input": gscale.reshape(input.shape), "target": g_t_scale.reshape(input.shape)}
    return reduce(terms.reshape(out_shape), scale.reshape(out_shape), grads, grad_scales, reduction,
                  condition=cond.reshape(out_shape), sums=sums.reshape(out_shape))


def poly1_cross_entropy(input: np.ndarray, target: np.ndarray, *, epsilon: float = 2.0,
                        reduction: str = "mean") -> Evaluation:
    r"""PolyLoss-1 (Leng et al. 2022, https://arxiv.org/abs/2204.12511), per row
    :math:`\ell = -\sum_c y_c \log p_c + \epsilon \sum_c y_c (1 - p_c)`, :math:`p = \mathrm{softmax}(x)`.

    optax.losses.poly_loss_cross_entropy(logits, labels, epsilon)
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.poly_loss_cross_entropy):
    labels "valid probability distributions", classes on the last axis; with a
    one-hot label the second sum is :math:`1 - p_t`. Neither torch nor Keras has it.
    Gradients: :math:`\partial \ell / \partial x_j = p_j S - y_j + \epsilon (p_j \sum_c y_c p_c - y_j p_j)`,
    :math:`S = \sum_c y_c`; :math:`\partial \ell / \partial y_c = -\log p_c + \epsilon (1 - p_c)`;
    :math:`\partial \ell / \partial \epsilon = \sum_c y_c (1 - p_c)`.
    Condition: the logits, the labels (their gradients) and epsilon. Sums (over the
    C classes): the log-sum-exp's exponentials, which move the loss by
    :math:`|\partial \ell / \partial \log \sum_j e^{x_j}| = |\sum_c y_c (1 + \epsilon p_c)|`,
    and the two sums over classes (summands :math:`|y_c \log p_c|`, :math:`|\epsilon y_c (1 - p_c)|`).
    """
    rows, y, out_shape = _last_axis_rows(input, target)
    check_unit_interval("target", y)
    eps = abs(epsilon)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        sm = _softmax_rows(rows)
        log_p, p, sizes = sm["log_p"], sm["p"], sm["shifted"] + sm["lse"]
        u = sm["u"]
        u_scale = 1.0 + p * (1.0 + sizes)
        ce = -times(y, log_p)
        terms = ce.sum(axis=1) + epsilon * times(y, u).sum(axis=1)
        scale = times(np.abs(y), sizes).sum(axis=1) + eps * times(np.abs(y), u + u_scale).sum(axis=1)
        s_y = y.sum(axis=1, keepdims=True)
        yp = times(y, p)
        # p_j S - y_j + eps p_j (sum_c y_c p_c - y_j), each part without cancelling 1 - p_j
        g = p * _exclusive_sum(y) - times(y, u) + epsilon * p * (_exclusive_sum(yp) - times(y, u))
        gscale = (np.abs(s_y) * p * sizes + np.abs(y)
                  + eps * (p * np.abs(yp).sum(axis=1, keepdims=True) + np.abs(yp)) * (2.0 + sizes))
        g_t = -log_p + epsilon * u
        g_t_scale = sizes + eps * (u + u_scale)
        yu = times(y, u).sum(axis=1)                         # d loss / d epsilon
        cond = condition(terms, (row_sum(condition(np.zeros_like(g), (g, rows), (g_t, y))), 1.0), (yu, epsilon))
        d_lse = (y * (1.0 + epsilon * p)).sum(axis=1)         # d loss / d log sum_j exp(x_j)
        sums = math.log2(max(rows.shape[1], 1)) * (np.abs(d_lse) + np.abs(ce).sum(axis=1) + eps * np.abs(yu))
    grads = {"input": exact(g.reshape(input.shape)), "target": exact(g_t.reshape(input.shape))}
    grad_scales = {"input": gscale.reshape(input.shape), "target": g_t_scale.reshape(input.shape)}
    return reduce(terms.reshape(out_shape), scale.reshape(out_shape), grads, grad_scales, reduction,
                  condition=cond.reshape(out_shape), sums=sums.reshape(out_shape))


FUNCTIONS = {"categorical_focal": categorical_focal, "poly1_cross_entropy": poly1_cross_entropy}
