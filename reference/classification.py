"""Multi-class losses: cross-entropy (class indices or probabilities) and NLL.

Inputs are (N, C, d1, ..., dK) or unbatched (C,); the class axis is 1. Both
losses are computed on rows (M, C), M = N * d1 * ... * dK, and the gradient is
put back in the input's layout.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import DomainError, Evaluation, check_unit_interval, condition, exact, reduce, row_sum, times as _times

#: Rows are processed in blocks of about this many elements, so the float64
#: temporaries of a large vocabulary (4096 x 131072) stay a few tens of MB; only
#: the outputs (the gradient and its scale) have the input's size.
CHUNK_ELEMENTS = 1 << 21


def _rows(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], bool]:
    """(N, C, *) -> ((M, C) rows, the moved shape, whether x was unbatched)."""
    if x.ndim == 0:
        raise DomainError("input must have a class axis: shape (C,) or (N, C, ...)")
    unbatched = x.ndim == 1
    if unbatched:
        x = x[None]
    moved = np.moveaxis(x, 1, -1)
    return moved.reshape(-1, x.shape[1]), moved.shape, unbatched


def _unrows(g: np.ndarray, moved_shape: tuple[int, ...], unbatched: bool) -> np.ndarray:
    g = np.moveaxis(g.reshape(moved_shape), -1, 1)
    return g[0] if unbatched else g


def _indices(target: np.ndarray, moved_shape, unbatched: bool, classes: int,
             ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated class indices as rows, and the mask of rows that count."""
    if not np.issubdtype(target.dtype, np.integer):
        raise DomainError(f"class-index target must have an integer dtype, got {target.dtype}")
    expected = moved_shape[1:-1] if unbatched else moved_shape[:-1]
    if target.shape != tuple(expected):
        raise DomainError(f"target shape {target.shape} does not match input: expected {tuple(expected)}")
    t = target.reshape(-1)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= classes))
    if np.any(bad):
        raise DomainError(f"class index {t[bad][0]} out of range [0, {classes})", value_dependent=True)
    return np.where(valid, t, 0), valid


def _weights(weight, classes: int, dtype) -> np.ndarray:
    if weight is None:
        return np.ones(classes, dtype=dtype)
    if weight.shape != (classes,):
        raise DomainError(f"weight must have shape ({classes},), got {weight.shape}")
    return weight


def cross_entropy(input: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None = None,
                  ignore_index: int = -100, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Evaluation:
    r"""Softmax cross-entropy,
    :math:`\ell_n = -\sum_c w_c q_{n,c} \log \frac{e^{x_{n,c}}}{\sum_j e^{x_{n,j}}}`.

    torch.nn.CrossEntropyLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html):

    * class indices (integer target of the input's shape without axis 1):
      :math:`q = (1 - \varepsilon)\,\mathrm{onehot}(y) + \varepsilon / C`; rows whose
      target is ``ignore_index`` contribute nothing; ``mean`` divides by
      :math:`\sum_{n \text{ counted}} w_{y_n}` (a weighted mean; 0/0 = NaN when
      every row is ignored);
    * probabilities (floating target of the input's shape, values in [0, 1]):
      :math:`q = (1 - \varepsilon) y + \varepsilon / C`; ``mean`` divides by M.

    optax.losses.softmax_cross_entropy(_with_integer_labels) and
    tf.nn.(sparse_)softmax_cross_entropy_with_logits compute the unweighted,
    unsmoothed :math:`\ell_n` with classes on the last axis.
    Gradient: :math:`\partial \ell_n / \partial x_j = -w_j q_j + p_j \sum_c w_c q_c`; for a
    probability target also :math:`\partial \ell_n / \partial y_j = -(1 - \varepsilon) w_j \log p_j`.
    Rows with +inf logits take the limit: softmax spreads its mass evenly over
    the +inf entries (value 0 if the target is among them, +inf otherwise).
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise DomainError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    rows, moved_shape, unbatched = _rows(input)
    m_rows, classes = rows.shape
    w = _weights(weight, classes, rows.dtype)
    probabilities = np.issubdtype(target.dtype, np.floating) and target.shape == input.shape
    if probabilities:
        check_unit_interval("probability target", target)
        soft, t, valid = _rows(target)[0], None, np.ones(m_rows, dtype=bool)
        denominator = rows.dtype.type(m_rows)
    else:
        soft = None
        t, valid = _indices(target, moved_shape, unbatched, classes, ignore_index)
        denominator = np.where(valid, w[t], np.zeros_like(w[t])).sum()
    terms, scale = np.empty(m_rows, rows.dtype), np.empty(m_rows, rows.dtype)
    cond, sums = np.empty(m_rows, np.float64), np.empty(m_rows, np.float64)
    g, gscale = np.empty_like(rows), np.empty_like(rows)
    g_target = np.empty_like(rows) if probabilities else None
    g_target_scale = np.empty_like(rows) if probabilities else None
    step = max(1, CHUNK_ELEMENTS // max(classes, 1))
    for lo in range(0, m_rows, step):         # row blocks: temporaries stay O(CHUNK_ELEMENTS)
        b = slice(lo, min(lo + step, m_rows))
        out = _ce_rows(rows[b], w, label_smoothing, valid[b], None if soft is None else soft[b],
                       None if t is None else t[b], weight is not None)
        terms[b], scale[b], cond[b], sums[b], g[b], gscale[b] = out[:6]
        if probabilities:
            g_target[b], g_target_scale[b] = out[6:]
    grads = {"input": exact(_unrows(g, moved_shape, unbatched))}
    grad_scales = {"input": _unrows(gscale, moved_shape, unbatched)}
    if probabilities:
        grads["target"] = exact(_unrows(g_target, moved_shape, unbatched))
        grad_scales["target"] = _unrows(g_target_scale, moved_shape, unbatched)
    out_shape = moved_shape[:-1][1:] if unbatched else moved_shape[:-1]
    return reduce(terms.reshape(out_shape), scale.reshape(out_shape), grads, grad_scales,
                  reduction, denominator, condition=cond.reshape(out_shape), sums=sums.reshape(out_shape))


def _ce_rows(rows: np.ndarray, w: np.ndarray, label_smoothing: float, valid: np.ndarray,
             soft: np.ndarray | None, t: np.ndarray | None, weighted: bool = False) -> tuple[np.ndarray, ...]:
    """Cross-entropy of a block of rows: (terms, scale, condition, sums, grad, grad
    scale[, target grad, its scale]); ``soft`` holds probability targets, ``t`` class
    indices. The condition: the logits (the gradient), the class weights
    (|w_c q_c log p_c|), a probability target (its gradient) and label smoothing
    (-sum_c w_c (1/C - y_c) log p_c); the sums: log2(C) of the log-sum-exp's
    exponentials (|sum_c w_c q_c|) and of the sum over classes."""
    m_rows, classes = rows.shape
    eps_c = label_smoothing / classes if classes else 0.0
    if soft is not None:
        q = (1.0 - label_smoothing) * soft + eps_c
    else:
        onehot = np.zeros_like(rows)
        onehot[np.arange(m_rows), t] = 1.0
        q = (1.0 - label_smoothing) * onehot + eps_c
        q = np.where(valid[:, None], q, np.zeros_like(q))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        peak = rows.max(axis=1, keepdims=True) if classes else np.zeros((m_rows, 1), rows.dtype)
        peak = np.where(np.isfinite(peak), peak, np.zeros_like(peak))
        shifted = rows - peak
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_sum
        # +inf logits: the limit of softmax puts its mass evenly on them (-log k),
        # none elsewhere (-inf); NaN logits still propagate.
        top = np.isposinf(rows)
        k = top.sum(axis=1, keepdims=True)
        limit = np.where(top, -np.log(np.maximum(k, 1)).astype(rows.dtype), -np.inf)
        log_p = np.where((k > 0) & ~np.isnan(rows).any(axis=1, keepdims=True), limit, log_p)
        shifted = np.where(k > 0, np.zeros_like(shifted), shifted)
        log_sum = np.where(k > 0, np.zeros_like(log_sum), log_sum)   # finite scales for limit rows
        wq = np.where(q == 0, np.zeros_like(q), w * q)       # a class weight of inf is not used where q = 0
        terms = -np.where(wq == 0, np.zeros_like(log_p), wq * log_p).sum(axis=1)
        terms = np.where(valid, terms, np.zeros_like(terms))
        lse_size = np.abs(peak) + np.abs(log_sum) + math.log(max(classes, 1)) + 1.0
        scale = _times(np.abs(wq), np.abs(shifted) + lse_size).sum(axis=1)
        p = np.exp(log_p)
        s = wq.sum(axis=1, keepdims=True)
        g = s * p - wq
        g = np.where(valid[:, None], g, np.zeros_like(g))
        gscale = np.abs(s) * _times(p, np.abs(shifted) + lse_size) + np.abs(wq)
        smooth_w = (1.0 - label_smoothing) * w * np.ones_like(rows)
        wq_log_p = np.abs(_times(wq, log_p))
        parts = [(row_sum(condition(np.zeros_like(g), (g, rows))), 1.0)]
        if weighted:
            parts.append((row_sum(wq_log_p), 1.0))
        if soft is not None:
            parts.append((row_sum(condition(np.zeros_like(g), (-_times(smooth_w, log_p), soft))), 1.0))
        if label_smoothing:
            dq = (1.0 / classes) - (soft if soft is not None else np.where(valid[:, None], onehot, 0.0))
            dq = np.where(valid[:, None], dq, np.zeros_like(dq))
            parts.append((-_times(w * dq, log_p).sum(axis=1), label_smoothing))
        cond = condition(terms, *parts)
        sums = math.log2(max(classes, 1)) * (np.abs(s[:, 0]) + wq_log_p.sum(axis=1))
        sums = np.where(valid, sums, 0.0)
        if soft is None:
            return terms, scale, cond, sums, g, gscale
        return (terms, scale, cond, sums, g, gscale, -_times(smooth_w, log_p),
                _times(np.abs(smooth_w), np.abs(shifted) + lse_size))


def nll(input: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None = None,
        ignore_index: int = -100, reduction: str = "mean") -> Evaluation:
    r"""Negative log-likelihood, :math:`\ell_n = -w_{y_n} x_{n, y_n}` (0 when :math:`y_n` is ignored).

    torch.nn.NLLLoss (https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html):
    the input is expected to hold log-probabilities but any real input is
    accepted; ``mean`` divides by :math:`\sum_{n \text{ counted}} w_{y_n}`.
    K-dimensional inputs (N, C, d1, ..., dK) include the image case
    (N, C, H, W) that the removed NLLLoss2d handled.
    """
    rows, moved_shape, unbatched = _rows(input)
    m_rows, classes = rows.shape
    w = _weights(weight, classes, rows.dtype)
    t, valid = _indices(target, moved_shape, unbatched, classes, ignore_index)
    picked = rows[np.arange(m_rows), t] if m_rows else np.zeros(0, rows.dtype)
    wt = np.where(valid, w[t], np.zeros_like(w[t])) if m_rows else np.zeros(0, rows.dtype)
    with np.errstate(invalid="ignore"):
        terms = np.where(valid, -wt * picked, np.zeros_like(picked))
    g = np.zeros_like(rows)
    g[np.arange(m_rows), t] = -wt
    out_shape = moved_shape[:-1][1:] if unbatched else moved_shape[:-1]
    grad = _unrows(g, moved_shape, unbatched)
    # condition: the picked logit (|w x| = |t|) and, when given, its class weight (|t| again)
    cond = condition(terms, (wt, picked), *([(terms, 1.0)] if weight is not None else []))
    return reduce(terms.reshape(out_shape), np.abs(terms).reshape(out_shape), {"input": exact(grad)},
                  {"input": np.abs(grad)}, reduction, wt.sum(), condition=cond.reshape(out_shape))


FUNCTIONS = {"cross_entropy": cross_entropy, "nll": nll}
