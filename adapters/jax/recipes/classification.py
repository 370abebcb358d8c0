"""JAX recipes of the classification family (cross-entropy, NLL)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ...base import Recipe, is_probability_target
from ..ops import Arrays, Params, jax_modules, reduce, times

OPTAX = "https://optax.readthedocs.io/en/latest/api/"


# -- classification: cross-entropy and NLL -------------------------------------
# Classes on axis 1 of (N, C, d1, ..., dK) or on axis 0 of an unbatched (C,)
# input. optax takes the class ``axis``; the native recipes are used for the
# unweighted, unsmoothed loss with no ignored row, where optax's per-row term and
# ``jnp.mean`` are the whole definition. Otherwise the classes are moved last and
# the loss is composed; 'mean' divides by the sum of w[y] over counted rows (class
# indices) or by the number of rows M (probability targets).


def _ce_native(arrays: Mapping[str, Any], params: Params) -> bool:
    """Whether optax alone computes this cross-entropy (shared by kind and fn).

    Decided on the concrete target before tracing; inside jit the decision
    arrives as the static parameter ``_native``."""
    if "_native" in params:
        return params["_native"]
    if "weight" in arrays or params.get("label_smoothing", 0.0) != 0:
        return False
    if is_probability_target(arrays):
        return True
    return not bool(np.any(np.asarray(arrays["target"]) == params.get("ignore_index", -100)))


def _rows(a: Arrays, p: Params) -> tuple[Any, Any, Any, Any]:
    """(classes-last input, class weights, class-index target with ignored rows set
    to 0 (or None), counted-row mask (or None)); unbatched inputs gain a batch axis."""
    _, jnp, _ = jax_modules()
    x, t = a["input"], a["target"]
    if x.ndim == 1:
        x, t = x[None], t[None]
    x = jnp.moveaxis(x, 1, -1)
    w = a["weight"] if "weight" in a else jnp.ones(x.shape[-1], x.dtype)
    if is_probability_target(a):
        return x, w, jnp.moveaxis(t, 1, -1), None
    valid = t != p.get("ignore_index", -100)
    return x, w, jnp.where(valid, t, 0), valid


def _unbatch(terms: Any, a: Arrays) -> Any:
    return terms[0] if a["input"].ndim == 1 else terms


def _cross_entropy(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, optax = jax_modules()
    x, t = a["input"], a["target"]
    axis = min(1, x.ndim - 1)
    if _ce_native(a, p):
        if is_probability_target(a):
            return reduce(optax.losses.softmax_cross_entropy(x, t, axis=axis), r)
        return reduce(optax.losses.softmax_cross_entropy_with_integer_labels(x, t, axis=axis), r)
    rows, w, target, valid = _rows(a, p)
    classes, ls = rows.shape[-1], p.get("label_smoothing", 0.0)
    if valid is None:                                   # probability targets
        q, denominator = (1.0 - ls) * target + ls / classes, None
    else:
        q = (1.0 - ls) * jax.nn.one_hot(target, classes, dtype=rows.dtype) + ls / classes
        q = jnp.where(valid[..., None], q, 0.0)
        denominator = jnp.sum(jnp.where(valid, w[target], 0.0))
        # an ignored row adds nothing: its logits never reach log_softmax, whose
        # backward would turn a NaN or +inf logit into a NaN gradient (0 * NaN)
        rows = jnp.where(valid[..., None], rows, 0.0)
    # w_c q_c, 0 where q_c = 0: an unused class's weight (inf, NaN) is not read (times'
    # custom derivative takes arguments of one shape)
    wq = times(q, jnp.broadcast_to(w, q.shape))
    log_p = jax.nn.log_softmax(rows, axis=-1)
    terms = -jnp.sum(times(wq, log_p), axis=-1)
    if valid is not None:
        terms = jnp.where(valid, terms, 0.0)
    return reduce(_unbatch(terms, a), r, denominator)


def _nll(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    rows, w, target, valid = _rows(a, p)
    picked = jnp.take_along_axis(rows, target[..., None], axis=-1)[..., 0]
    wt = jnp.where(valid, w[target], 0.0)
    terms = jnp.where(valid, -wt * picked, 0.0)
    return reduce(_unbatch(terms, a), r, jnp.sum(wt))


RECIPES = {
    "cross_entropy": Recipe(
        _cross_entropy,
        f"optax.losses.softmax_cross_entropy_with_integer_labels / softmax_cross_entropy "
        f"(axis=1) ({OPTAX}generated/optax.losses.softmax_cross_entropy_with_integer_labels.html); "
        "with weight, label_smoothing or ignored rows composed: q = (1 - ls) * onehot(y) + ls / C "
        "(ignored rows 0), -jnp.sum(w * q * jax.nn.log_softmax(x)) / sum of w[y] over counted "
        "rows (M rows for probability targets)",
        lambda case: "native" if _ce_native(case.arrays, case.params) else "composed",
        decided=lambda arrays, params: {"_native": _ce_native(arrays, params)}),
    "nll": Recipe(_nll, "composed: -w[y] * jnp.take_along_axis(x, y) with ignored rows 0, "
                  "'mean' / sum of w[y] over counted rows (optax has no NLL loss)", "composed"),
}
