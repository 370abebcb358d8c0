"""Realistic wrong implementations, each an adapter with one bug of the kind people
ship, built on the example user adapter (adapters/example_user_adapter.py) with one
kernel replaced. tests/test_user_adapters.py proves the ci profile catches each."""
from __future__ import annotations

import numpy as np

import adapters.example_user_adapter as ok
from adapters.base import Output, Recipe
from conformance.vocab.dtypes import numpy_dtype


def broken(name: str, loss: str, kernel, why: str):
    """An adapter class: the example with ``loss`` computed by ``kernel``."""
    recipes = dict(ok.HandWrittenNumpy.recipes)
    recipes[loss] = Recipe(kernel, f"wrong.{name}", "composed", unsupported=recipes[loss].unsupported)
    return type(f"Wrong_{name}", (ok.HandWrittenNumpy,), {"name": name, "recipes": recipes, "loss": loss,
                                                          "why": why})


# -- MSE ---------------------------------------------------------------------------
def mse_target_gradient_sign(a, p, r):
    value, grads = ok.mse(a, p, r)
    return value, {**grads, "target": -grads["target"]}


def mse_gradient_without_the_2(a, p, r):
    value, grads = ok.mse(a, p, r)
    return value, {k: g / 2 for k, g in grads.items()}


def mse_mean_over_the_wrong_axis(a, p, r):
    if r != "mean" or a["input"].ndim < 2:
        return ok.mse(a, p, r)
    d = a["input"] - a["target"]
    n = d.shape[0]                               # divides by the batch size only
    return (d * d).sum() / n, {"input": 2 * d / n, "target": -2 * d / n}


# -- BCE with logits -----------------------------------------------------------
def bce_naive_softplus(a, p, r):
    """log(1 + exp(x)) overflows in float32 for x > 88."""
    saved = ok.softplus
    ok.softplus = lambda z: np.log1p(np.exp(z))
    try:
        return ok.bce_with_logits(a, p, r)
    finally:
        ok.softplus = saved


def bce_softplus_without_log1p(a, p, r):
    """The max-shifted softplus with log(1 + t) for log1p(t): the tiny term
    softplus(-20) = 2.06e-9 becomes 0 in float32 (softplus(-40) in float64)."""
    saved = ok.softplus
    ok.softplus = lambda z: np.maximum(z, 0) + np.log(1 + np.exp(-np.abs(z)))
    try:
        return ok.bce_with_logits(a, p, r)
    finally:
        ok.softplus = saved


def bce_tiny_term_cancelled(a, p, r):
    """(1 - y) x - log sigmoid(x): right in exact arithmetic, but at y = 0 and a
    very negative logit it is x - (x - softplus(x)), which rounds the tiny
    softplus(x) away (0 for 2.06e-9 at x = -20 in float32)."""
    value, grads = ok.bce_with_logits(a, p, r)
    if "pos_weight" in a:
        return value, grads
    x, y = a["input"], a["target"]
    w = np.broadcast_to(a["weight"], x.shape) if "weight" in a else np.ones_like(x)
    log_sigmoid = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
    right = ok.bce_with_logits(a, p, "none")[0]
    with np.errstate(invalid="ignore"):
        terms = np.where(np.isfinite(x), w * (ok.times(1 - y, x) - log_sigmoid), right)   # one bug only
    return ok.reduce(terms, r)[0], grads


def half_accumulating(name: str, loss: str, why: str):
    """An adapter whose reduction accumulates in the dtype itself, one term at a
    time (what a plain half-precision loop does): its terms are right, its sum of
    thousands of bfloat16 terms stalls (at 256 for unit terms)."""
    base = broken(name, loss, ok.HandWrittenNumpy.recipes[loss].fn, why)
    kernel = ok.HandWrittenNumpy.recipes[loss].fn

    def in_the_dtype(self, recipe, arrays, params, reduction, dtype, device, wrt):
        out = ok.HandWrittenNumpy._run(self, recipe, arrays, params, reduction, dtype, device, wrt)
        if reduction not in ("sum", "mean"):
            return out
        compute = np.float64 if dtype == "float64" else np.float32
        inputs = {k: (v.astype(compute) if np.issubdtype(v.dtype, np.floating) else v) for k, v in arrays.items()}
        with np.errstate(all="ignore"):
            terms = kernel(inputs, params, "none")[0].astype(numpy_dtype(dtype))
            total = np.add.accumulate(terms.ravel(), dtype=terms.dtype)[-1] if terms.size else terms.dtype.type(0)
            value = total if reduction == "sum" else total / terms.dtype.type(terms.size)
        return Output(np.asarray(value).astype(np.float64), out.grads)
    return type(base.__name__, (base,), {"_run": in_the_dtype})


def bce_pos_weight_on_the_negative_term(a, p, r):
    if "pos_weight" not in a:
        return ok.bce_with_logits(a, p, r)
    x, y = a["input"], a["target"]
    pw = np.broadcast_to(a["pos_weight"], x.shape)
    flipped = {**a, "target": 1 - y, "input": -x, "pos_weight": pw}   # weights the y = 0 side
    value, grads = ok.bce_with_logits(flipped, p, r)
    return value, {"input": -grads["input"], "target": -grads["target"]}


def bce_epsilon_inside_the_log(a, p, r):
    """-[y log(s + 1e-7) + (1 - y) log(1 - s + 1e-7)]: the popular 'safe' log."""
    x, y = a["input"], a["target"]
    s, eps = 1 / (1 + np.exp(-x)), 1e-7
    terms = -(y * np.log(s + eps) + (1 - y) * np.log(1 - s + eps))
    value, factor = ok.reduce(terms, r)
    grad_x = (-(y / (s + eps)) + (1 - y) / (1 - s + eps)) * s * (1 - s) * factor
    grad_y = (np.log(1 - s + eps) - np.log(s + eps)) * factor
    return value, {"input": grad_x, "target": grad_y}


# -- cross-entropy -------------------------------------------------------------
def ce_weighted_mean_divides_by_n(a, p, r):
    value, grads = ok.cross_entropy(a, p, "sum" if r == "mean" else r)
    if r != "mean":
        return value, grads
    rows, _, valid, _ = ok._class_rows(a, p)
    n = valid.sum()
    return value / n, {k: g / n for k, g in grads.items()}


def ce_smoothing_without_dividing_by_c(a, p, r):
    eps = p.get("label_smoothing", 0.0)
    if not eps:
        return ok.cross_entropy(a, p, r)
    classes = ok._class_rows(a, p)[0].shape[1]
    return ok.cross_entropy(a, {**p, "label_smoothing": min(1.0, eps * classes)}, r)   # eps, not eps / C


def ce_ignored_rows_in_the_denominator(a, p, r):
    if r != "mean":
        return ok.cross_entropy(a, p, r)
    value, grads = ok.cross_entropy(a, p, "sum")
    rows, idx, valid, _ = ok._class_rows(a, p)
    w = a["weight"] if "weight" in a else np.ones(rows.shape[1], rows.dtype)
    denominator = w[idx].sum()                   # counts the ignored rows too
    return value / denominator, {k: g / denominator for k, g in grads.items()}


def ce_softmax_over_the_last_axis(a, p, r):
    """(N, C, d) input: log-softmax taken over the last axis, the target picked on axis 1."""
    x, t = a["input"], a["target"]
    value, grads = ok.cross_entropy(a, p, r)
    if x.ndim < 3 or "weight" in a or p.get("label_smoothing") or np.any(t == p.get("ignore_index", -100)):
        return value, grads
    shifted = x - x.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    terms = -np.take_along_axis(logp, t[:, None], axis=1)[:, 0]
    return ok.reduce(terms, r)[0], grads


def ce_gradient_ignores_the_weights(a, p, r):
    value, grads = ok.cross_entropy(a, p, r)
    unweighted = ok.cross_entropy({k: v for k, v in a.items() if k != "weight"}, p, r)[1]
    return value, unweighted


def ce_without_the_max_shift(a, p, r):
    """log(sum(exp(x))) overflows in float32 for logits above ~88."""
    saved = ok.log_softmax
    ok.log_softmax = lambda rows: rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
    try:
        return ok.cross_entropy(a, p, r)
    finally:
        ok.log_softmax = saved


# -- NLL -----------------------------------------------------------------------
def nll_ignored_rows_get_a_gradient(a, p, r):
    value, grads = ok.nll(a, p, r)
    rows, idx, valid, _ = ok._class_rows(a, p)
    g = np.moveaxis(grads["input"] if a["input"].ndim > 1 else grads["input"][None], 1, -1).reshape(rows.shape).copy()
    g[np.arange(rows.shape[0])[~valid], 0] = -1.0                     # the clamped index leaks
    batched = a["input"] if a["input"].ndim > 1 else a["input"][None]
    leaked = np.moveaxis(g.reshape(np.moveaxis(batched, 1, -1).shape), -1, 1).reshape(a["input"].shape)
    return value, {"input": leaked}


# -- bugs only the edge cases derived from the spec reach (conformance/derived.py) ----
def nll_negative_index_wraps(a, p, r):
    """The range check forgets negative indices: -1 silently picks the last class
    (NumPy's, and Python's, negative indexing)."""
    x, t = a["input"], a["target"]
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    wrapped = np.where((t < 0) & (t != p.get("ignore_index", -100)), t % classes, t)
    return ok.nll(a | {"target": wrapped}, p, r)


def bce_shapes_broadcast(a, p, r):
    """No shape check: an input and a target of different shapes are broadcast."""
    x, y = np.broadcast_arrays(a["input"], a["target"])
    value, grads = ok.bce_with_logits(a | {"input": x, "target": y}, p, r)
    return value, {"input": _unbroadcast(grads["input"], a["input"].shape),
                   "target": _unbroadcast(grads["target"], a["target"].shape)}


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1), keepdims=True) \
        if g.shape != shape else g


def bce_one_element_squeezed(a, p, r):
    """x.squeeze() on the way in: a batch of one element comes back as a scalar."""
    value, grads = ok.bce_with_logits(a, p, r)
    if r == "none" and a["input"].size == 1:
        return np.squeeze(value), grads
    return value, grads


WRONG = [
    broken("mse_target_gradient_sign", "mse", mse_target_gradient_sign, "a sign flipped in a gradient"),
    broken("mse_gradient_without_the_2", "mse", mse_gradient_without_the_2, "d/dx (x - y)^2 taken as (x - y)"),
    broken("mse_mean_over_the_wrong_axis", "mse", mse_mean_over_the_wrong_axis,
           "'mean' divides by the batch axis only (a reduction over the wrong axis)"),
    broken("bce_naive_softplus", "bce_with_logits", bce_naive_softplus, "log1p(exp(x)) overflowing in float32"),
    broken("bce_softplus_without_log1p", "bce_with_logits", bce_softplus_without_log1p,
           "softplus as max(z, 0) + log(1 + exp(-|z|)): the tiny term is lost (float32 and float64)"),
    broken("bce_tiny_term_cancelled", "bce_with_logits", bce_tiny_term_cancelled,
           "(1 - y) x - log sigmoid(x): x - (x - softplus(x)) cancels the tiny term at y = 0"),
    half_accumulating("mse_sum_accumulated_in_the_dtype", "mse",
                      "the reduction accumulates bfloat16 terms in bfloat16: it stalls at 256"),
    broken("bce_pos_weight_on_the_negative_term", "bce_with_logits", bce_pos_weight_on_the_negative_term,
           "pos_weight multiplies the wrong term"),
    broken("bce_epsilon_inside_the_log", "bce_with_logits", bce_epsilon_inside_the_log,
           "an epsilon in the wrong place: log(sigmoid(x) + 1e-7)"),
    broken("ce_weighted_mean_divides_by_n", "cross_entropy", ce_weighted_mean_divides_by_n,
           "a weighted mean divided by N instead of the sum of the weights"),
    broken("ce_smoothing_without_dividing_by_c", "cross_entropy", ce_smoothing_without_dividing_by_c,
           "label smoothing of eps where eps / C is due"),
    broken("ce_ignored_rows_in_the_denominator", "cross_entropy", ce_ignored_rows_in_the_denominator,
           "ignore_index not excluded from the denominator"),
    broken("ce_softmax_over_the_last_axis", "cross_entropy", ce_softmax_over_the_last_axis,
           "K-dimensional input: softmax over the last axis, not the class axis"),
    broken("ce_gradient_ignores_the_weights", "cross_entropy", ce_gradient_ignores_the_weights,
           "class weights applied to the value but not to the gradient"),
    broken("ce_without_the_max_shift", "cross_entropy", ce_without_the_max_shift,
           "log-sum-exp without subtracting the maximum"),
    broken("nll_ignored_rows_get_a_gradient", "nll", nll_ignored_rows_get_a_gradient,
           "an ignored row's gradient leaks into class 0"),
    broken("nll_negative_index_wraps", "nll", nll_negative_index_wraps,
           "class index -1 wraps to the last class instead of being refused"),
    broken("bce_shapes_broadcast", "bce_with_logits", bce_shapes_broadcast,
           "mismatched input and target shapes broadcast instead of refused"),
    broken("bce_one_element_squeezed", "bce_with_logits", bce_one_element_squeezed,
           "a batch of one element squeezed to a scalar"),
]
#: caught by the derived edge cases and by no hand-listed edge case (tests/test_derived.py)
ONLY_DERIVED = ("nll_negative_index_wraps", "bce_shapes_broadcast", "bce_one_element_squeezed")
