r"""Sample weights: one weight per term of a loss's unreduced output, for every loss
whose catalog entry has a ``sample_weight`` argument.

With terms :math:`\ell_i` and weights :math:`w_i \ge 0` (the shape of the terms):

* ``none``: :math:`w_i \ell_i`;
* ``sum``: :math:`\sum_i w_i \ell_i`;
* ``mean``: :math:`\sum_i w_i \ell_i / n`, n the number of terms (Keras's default
  ``sum_over_batch_size``, https://keras.io/api/losses/#the-loss-class);
* ``weighted_mean``: :math:`\sum_i w_i \ell_i / \sum_i w_i` (Keras's
  ``mean_with_sample_weight``; torch's weighted cross-entropy mean divides by the
  weights' sum the same way, https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html).

A weight of 0 leaves its term out, whatever the term (0 times an infinite term is
0: the convention of ignored rows, ``_common.times``); all weights 0 make
``weighted_mean`` 0/0, undefined. Each term depends on its own elements of the
inputs (a row of logits, an element), so the gradient of the weighted reduction is
each term's gradient times its weight (and the reduction's 1/n or 1/sum w),
broadcast over the elements that term reads.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import numpy as np

from conformance.vocab.catalog import WEIGHTED_MEAN, plain_reduction

from ._common import DomainError, Evaluation, reduce, times

ARGUMENT = "sample_weight"


def evaluate(fn: Callable[..., Evaluation], arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
             reduction: str, policies: Mapping[str, Any], layout: str) -> Evaluation:
    """``fn`` (a loss's formula) with the case's ``sample_weight`` applied to its terms."""
    arrays = dict(arrays)
    w = arrays.pop(ARGUMENT)
    terms = fn(**arrays, reduction="none", **dict(params), **dict(policies))
    shape = np.shape(terms.value)
    if np.shape(w) != shape:
        raise DomainError(f"sample_weight has shape {np.shape(w)}; the loss's terms have shape {shape}")
    if np.any(w < 0):
        raise DomainError(f"sample weights must be >= 0; found {float(w[w < 0].ravel()[0])!r}", value_dependent=True)
    w = np.asarray(w, terms.value.dtype)
    absw = np.abs(w)
    grads = {n: _scaled(w, lo, hi, layout) for n, (lo, hi) in terms.grads.items()}
    grad_scales = {n: times(_broadcast(absw, s, layout), np.abs(s)) for n, s in terms.grad_scales.items()}
    weighted = times(w, terms.value)
    scale = times(absw, np.abs(terms.scale))
    # the terms' scale is already the smaller of their magnitudes and their condition
    # (with each term's own summation allowance): weighing scales it, and the reduction
    # must not take the minimum again with a condition that lacks the allowance
    # w l's condition: |w| times the term's, plus the weight's own |w dl/dw| = |w l|
    condition = None if terms.condition is None else times(absw, terms.condition) + times(absw, np.abs(terms.value))
    undefined = None if terms.undefined_at is None else (terms.undefined_at & (w != 0), terms.undefined)
    try:
        plain = plain_reduction(reduction)
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    denominator = w.sum() if reduction == WEIGHTED_MEAN else None
    ev = reduce(weighted, scale, grads, grad_scales, plain, denominator, undefined=undefined)
    if condition is None:
        return ev
    if plain == "none":
        return dataclasses.replace(ev, condition=condition)
    total = np.asarray(condition.sum())
    if plain == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            total = total / (denominator if denominator is not None else max(condition.size, 1))
    return dataclasses.replace(ev, condition=total)


def _broadcast(w: np.ndarray, like: np.ndarray, layout: str) -> np.ndarray:
    """w laid over an argument's elements: the same shape; classes on axis 1 (the
    classification layout); or trailing axes the term reduces over (a row's features)."""
    like = np.asarray(like)
    if like.shape == w.shape:
        return w
    if layout == "classification" and like.ndim == w.ndim + 1:
        return np.expand_dims(w, 1)
    if like.shape[:w.ndim] == w.shape:
        return w.reshape(w.shape + (1,) * (like.ndim - w.ndim))
    raise ValueError(f"a term of shape {w.shape} does not read its own elements of an argument of shape "
                     f"{like.shape}: its gradient is not the weighted term's (not a sample-weighted loss)")


def _scaled(w: np.ndarray, lo: np.ndarray, hi: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of w_i times a subdifferential (w >= 0 keeps their order); exact 0 at w = 0."""
    ww = _broadcast(w, lo, layout)
    low = times(ww, lo)
    return low, (low if hi is lo else times(ww, hi))
