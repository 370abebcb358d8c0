"""TensorFlow recipes of the classification family: tf.nn's fused softmax
cross-entropies for plain cases, composed from tf.nn.log_softmax otherwise (TF has
no weighted, ignored or smoothed softmax cross-entropy and no NLL loss)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from conformance.vocab.case import Case

from ...base import Recipe, is_probability_target
from ..ops import Params, Tensors, reduce, tf as _tf


def _classes_last(x: Any) -> Any:
    """(N, C, d1, ..., dK) -> (N, d1, ..., dK, C); (C,) and (N, C) unchanged."""
    tf = _tf()
    n = x.shape.rank
    if n == 0:
        raise ValueError("input must have a class axis: shape (C,) or (N, C, ...)")
    return x if n <= 2 else tf.transpose(x, [0, *range(2, n), 1])


def _rows(x: Any) -> tuple[Any, list[int]]:
    """Logits (or probabilities) as rows (M, C), and the shape of the per-row terms."""
    tf = _tf()
    moved = _classes_last(x)
    return tf.reshape(moved, [-1, moved.shape[-1]]), moved.shape[:-1].as_list()


def _prob_target(a: Tensors) -> bool:
    return a["target"].dtype.is_floating and a["target"].shape == a["input"].shape


def _labels(a: Tensors, p: Params) -> tuple[Any, Any]:
    """Flat class indices with ignore_index replaced by 0, and the mask of counted rows."""
    tf = _tf()
    t = tf.reshape(a["target"], [-1])
    valid = tf.not_equal(t, int(p.get("ignore_index", -100)))
    return tf.where(valid, t, tf.zeros_like(t)), valid


def _class_weight(a: Tensors, classes: int, dtype: Any) -> Any:
    tf = _tf()
    return a["weight"] if "weight" in a else tf.ones([classes], dtype)


def _ce_is_native(a: Mapping[str, Any], p: Params, probabilities: bool) -> bool:
    """No weight, no smoothing and no ignored row: tf.nn's fused ops apply as they are
    (decided from the concrete target before a graph is traced: ``_native``)."""
    if "_native" in p:
        return bool(p["_native"])
    if "weight" in a or float(p.get("label_smoothing", 0.0)) != 0.0:
        return False
    return probabilities or not np.any(np.asarray(a["target"]) == int(p.get("ignore_index", -100)))


def _cross_entropy(a: Tensors, p: Params, r: str) -> Any:
    tf = _tf()
    x, y = a["input"], a["target"]
    if _ce_is_native(a, p, _prob_target(a)):
        if _prob_target(a):
            axis = 1 if x.shape.rank > 1 else -1
            terms = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x, axis=axis)
        else:
            terms = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=_classes_last(x))
        return reduce(terms, r)
    rows, shape = _rows(x)
    classes = rows.shape[-1]
    ls = float(p.get("label_smoothing", 0.0))
    w = _class_weight(a, classes, rows.dtype)
    if _prob_target(a):
        q = (1.0 - ls) * _rows(y)[0] + ls / classes
        terms = -tf.reduce_sum(w * q * tf.nn.log_softmax(rows, axis=-1), axis=-1)
        return reduce(tf.reshape(terms, shape), r)
    t, valid = _labels(a, p)
    # an ignored row adds nothing: its logits and weights never reach the product
    # (the gradient of tf.where is 0 there, but 0 * inf and log_softmax's backward of
    # a NaN or +inf logit would make it NaN)
    logp = tf.nn.log_softmax(tf.where(valid[:, None], rows, tf.zeros_like(rows)), axis=-1)
    wt = tf.gather(w, t)  # raises on CPU for an index outside [0, C)
    zero = tf.zeros_like(wt)
    wt = tf.where(valid, wt, zero)
    terms = -(1.0 - ls) * wt * tf.gather(logp, t, batch_dims=1)
    if ls != 0.0:   # scale before summing: a sum of C log-probabilities overflows float16
        w_rows = tf.where(valid[:, None], w * tf.ones_like(logp), tf.zeros_like(logp))
        terms -= tf.reduce_sum(w_rows * logp * (ls / classes), axis=-1)
    terms = tf.where(valid, terms, zero)
    return reduce(tf.reshape(terms, shape), r, tf.reduce_sum(wt))


def _nll(a: Tensors, p: Params, r: str) -> Any:
    tf = _tf()
    rows, shape = _rows(a["input"])
    t, valid = _labels(a, p)
    w = _class_weight(a, rows.shape[-1], rows.dtype)
    wt = tf.gather(w, t)  # raises on CPU for an index outside [0, C)
    zero = tf.zeros_like(wt)
    wt = tf.where(valid, wt, zero)   # an ignored row's weight (inf, NaN) never meets the gradient
    terms = tf.where(valid, -wt * tf.gather(rows, t, batch_dims=1), zero)
    return reduce(tf.reshape(terms, shape), r, tf.reduce_sum(wt))


def _ce_kind(case: Case) -> str:
    native = _ce_is_native(case.arrays, case.params, is_probability_target(case))
    return "native" if native else "composed"


_MASKED = ("ignore_index replaced by 0 before tf.gather, ignored rows' logits and weights set to 0 "
           "by tf.where before use and their terms set to 0; "
           "'mean' = sum / sum of w[y] over counted rows")

RECIPES = {
    "cross_entropy": Recipe(
        _cross_entropy, "plain class indices: tf.nn.sparse_softmax_cross_entropy_with_logits(labels, "
        "logits with classes moved last); plain probabilities: tf.nn.softmax_cross_entropy_with_logits("
        "labels, logits, axis=1); with weight / ignored rows / label_smoothing composed from "
        "tf.nn.log_softmax: -(1 - ls) w[y] logp[y] - ls/C sum_c w_c logp_c, " + _MASKED +
        " (probabilities: q = (1 - ls) y + ls/C, 'mean' divides by the number of rows)", _ce_kind,
        decided=lambda arrays, params: {"_native": _ce_is_native(arrays, params, is_probability_target(arrays))}),
    "nll": Recipe(_nll, "composed: -w[y] * tf.gather(x, y, batch_dims=1) on classes-last rows, "
                  + _MASKED, "composed"),
}
