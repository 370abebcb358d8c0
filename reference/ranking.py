"""Listwise ranking losses: optax's ``ranking_softmax_loss``."""
from __future__ import annotations

import math

import numpy as np

from ._common import DomainError, Evaluation, condition, reduce, row_sum, times


def _same_shape(logits: np.ndarray, **others: np.ndarray | None) -> None:
    for name, a in others.items():
        if a is not None and a.shape != logits.shape:
            raise DomainError(f"{name} shape {a.shape} differs from logits shape {logits.shape}")


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a| |b| with 0 * inf = 0 either way round."""
    a, b = np.broadcast_arrays(np.abs(a), np.abs(b))
    return np.where((a == 0) | (b == 0), np.zeros_like(a), a * b)


def _log_softmax(s: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, ...]:
    """log softmax over the valid items of each list (last axis): (log p, the
    shifted logits, the list's log-sum-exp size), -inf at invalid items.

    A list holding +inf logits takes the limit: its mass spreads evenly over the
    +inf items (log p = -log k there, -inf elsewhere). A valid NaN makes the
    list's log p NaN."""
    s = np.where(valid, s, np.full_like(s, -np.inf))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        peak = s.max(axis=-1, keepdims=True, initial=-np.inf) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,), s.dtype)
        peak = np.where(np.isfinite(peak), peak, np.zeros_like(peak))
        shifted = s - peak
        log_sum = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        log_p = shifted - log_sum
        top = np.isposinf(s)
        k = top.sum(axis=-1, keepdims=True)
        limit = np.where(top, -np.log(np.maximum(k, 1)).astype(s.dtype), np.full_like(s, -np.inf))
        has_nan = np.isnan(s).any(axis=-1, keepdims=True)
        log_p = np.where((k > 0) & ~has_nan, limit, log_p)
        shifted = np.where(k > 0, np.zeros_like(shifted), shifted)
        log_sum = np.where(k > 0, np.zeros_like(log_sum), log_sum)
        log_sum = np.where(np.isfinite(log_sum), log_sum, np.zeros_like(log_sum))
        size = np.abs(peak) + np.abs(log_sum) + math.log(max(s.shape[-1], 1)) + 1.0
    return log_p, np.where(np.isfinite(shifted), np.abs(shifted), np.zeros_like(shifted)), size


def ranking_softmax(logits: np.ndarray, labels: np.ndarray, *, where: np.ndarray | None = None,
                    weights: np.ndarray | None = None, reduction: str = "mean",
                    mean_of_nothing: float = math.nan) -> Evaluation:
    r"""Listwise softmax cross-entropy over the items of each list (the last axis):

    .. math:: \ell = -\sum_{i \text{ valid}} w_i y_i \log \frac{e^{s_i}}{\sum_{j \text{ valid}} e^{s_j}}

    optax.losses.ranking_softmax_loss
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.ranking_softmax_loss):
    logits and labels ``[..., list_size]``, the labels are relevance values, used
    as given: **not normalised** to sum to 1 (TF-Ranking's SoftmaxLoss documents
    the same formula, https://www.tensorflow.org/ranking/api_docs/python/tfr/keras/losses/SoftmaxLoss).
    So a list whose labels are all 0 has loss 0 and gradient 0 (the mathematics:
    an empty weighted sum), not 0/0. ``where`` (any non-zero value is True) marks the
    valid items: "Items for which this is False will be ignored when computing the
    loss", in the value and in the log-sum-exp, so an ignored item's logit (+-inf,
    NaN) changes nothing and gets gradient 0; ``weights`` multiply the labels.
    0 log 0 = 0: a valid item with label 0 and logit -inf contributes 0; a valid NaN
    logit makes its list's loss NaN (also where its label is 0).

    Reductions over the lists (optax's ``reduce_fn``): 'none' one loss per list
    (0 for a list without valid items), 'sum', 'mean' over the lists that have a
    valid item (every list when ``where`` is not given). A mean over no list is
    0/0 = NaN.

    Policy knob ``mean_of_nothing``: optax returns 0 instead when the mean has no
    list and no loss is NaN (``_safe_reduce`` in optax/losses/_ranking.py).

    Gradients: :math:`\partial \ell / \partial s_i = p_i \sum_j q_j - q_i`,
    :math:`\partial \ell / \partial y_i = -w_i \log p_i` (q = w y over the valid items);
    0 at ignored items.

    Condition: the logits, the labels and the weights (each moves the term by
    :math:`|q_i \log p_i|`); ``where`` only selects. Sums: the sum of the
    :math:`q_i \log p_i` and the log-sum-exp's sum of exponentials over the m valid
    items, :math:`\log_2 m \, (\sum_i |q_i \log p_i| + |\sum_i q_i|)`.
    """
    _same_shape(logits, labels=labels, where=where, weights=weights)
    if logits.ndim == 0:
        raise DomainError("logits must have a list axis: shape (..., list_size)")
    valid = np.ones(logits.shape, bool) if where is None else (where != 0)
    w = np.ones_like(logits) if weights is None else weights
    zero = np.zeros_like(logits)
    log_p, shifted, size = _log_softmax(logits, valid)
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.where(valid, w * labels, zero)
        terms = 0.0 - np.where(valid, times(q, log_p), zero).sum(axis=-1)
        # a valid NaN logit makes the list NaN even where its label is 0
        terms = np.where((np.isnan(logits) & valid).any(axis=-1), np.full_like(terms, np.nan), terms)
        scale = np.where(valid, times(np.abs(q), shifted + size), zero).sum(axis=-1)
        total = q.sum(axis=-1, keepdims=True)
        p = np.exp(log_p)
        g_logits = np.where(valid, p * total - q, zero)
        g_labels = np.where(valid, -times(w, log_p), zero)
        gscale_logits = np.where(valid, times(np.abs(total) * p, shifted + size) + np.abs(q), zero)
        gscale_labels = np.where(valid, times(np.abs(w), shifted + size), zero)
        moved = np.where(valid, _product(q, log_p), zero)          # |q_i log p_i| = |dl/dy_i| |y_i|
        cond = condition(terms, (row_sum(_product(g_logits, logits)), 1.0),
                         (row_sum(moved) * (1.0 if weights is None else 2.0), 1.0))
        items = valid.sum(axis=-1)
        sums = np.log2(np.maximum(items, 1)) * (row_sum(moved) + np.abs(total[..., 0]))
        sums = np.where(np.isfinite(sums), sums, np.zeros_like(sums))
    grads = {"logits": (g_logits, g_logits), "labels": (g_labels, g_labels)}
    scales = {"logits": gscale_logits, "labels": gscale_labels}
    counted = valid.any(axis=-1) if where is not None else np.ones(terms.shape, bool)
    denominator = logits.dtype.type(counted.sum())
    out = reduce(terms, scale, grads, scales, reduction, denominator, condition=cond, sums=sums)
    if reduction == "mean" and denominator == 0 and not math.isnan(mean_of_nothing):
        out = Evaluation(np.asarray(logits.dtype.type(mean_of_nothing)), np.zeros(()), out.grads, out.grad_scales,
                         condition=np.zeros(()))
    return out


FUNCTIONS = {"ranking_softmax": ranking_softmax}
