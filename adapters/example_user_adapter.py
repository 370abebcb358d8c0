"""An example of checking your own implementation: hand-written NumPy kernels.

Run it against the oracle with the whole machinery (cases, tolerance,
gradients, search, report):

    python -m conformance run --adapter adapters/example_user_adapter.py --profile ci

The kernels below are what a user writes: value and analytic gradient, computed
in float32 for float32/float16/bfloat16 ("opmath", as GPU kernels do) and
rounded to the dtype once. An adapter subclasses ``FrameworkAdapter`` and sets
``name``, ``recipes`` (one ``Recipe`` per catalog loss it implements) and
implements ``_import``, ``version``, ``devices`` and ``_run``; the recipes say
what they cannot express (``unsupported``, with the reason). The module exposes
the adapter as ``ADAPTER`` (or name another attribute: ``file.py:attribute``).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from adapters.base import FrameworkAdapter, Output, Recipe
from conformance.vocab.dtypes import numpy_dtype

Arrays = Mapping[str, np.ndarray]
Params = Mapping[str, Any]
Result = tuple[np.ndarray, dict[str, np.ndarray]]    # value, gradients of sum(value)


def reduce(terms: np.ndarray, reduction: str, denominator: Any = None) -> tuple[np.ndarray, Any]:
    """(reduced value, the factor each term's gradient is multiplied by)."""
    if reduction == "none":
        return terms, 1.0
    total = terms.sum(dtype=terms.dtype)
    if reduction == "sum":
        return total, 1.0
    n = terms.dtype.type(terms.size if denominator is None else denominator)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / n, 1.0 / n


def same_shape(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape != y.shape:
        raise ValueError(f"input {x.shape} and target {y.shape} must have the same shape")


def times(coef: np.ndarray, value: np.ndarray) -> np.ndarray:
    """coef * value with 0 * inf = 0 (a zero coefficient silences the term)."""
    with np.errstate(invalid="ignore"):
        return np.where(coef == 0, 0, coef * value)


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


# -- the kernels ---------------------------------------------------------------

def mse(a: Arrays, p: Params, reduction: str) -> Result:
    x, y = a["input"], a["target"]
    same_shape(x, y)
    d = x - y
    value, factor = reduce(d * d, reduction)
    g = 2 * d * factor
    return value, {"input": g, "target": -g}


def bce_with_logits(a: Arrays, p: Params, reduction: str) -> Result:
    x, y = a["input"], a["target"]
    same_shape(x, y)
    w = np.broadcast_to(a["weight"], x.shape) if "weight" in a else np.ones_like(x)
    pw = np.broadcast_to(a["pos_weight"], x.shape) if "pos_weight" in a else np.ones_like(x)
    sp_neg, sp_pos = softplus(-x), softplus(x)          # -log sigmoid(x), -log(1 - sigmoid(x))
    terms = w * (times(pw * y, sp_neg) + times(1 - y, sp_pos))
    value, factor = reduce(terms, reduction)
    sig, sig_neg = np.exp(-sp_neg), np.exp(-sp_pos)      # sigmoid(x), sigmoid(-x)
    grad_x = w * ((1 - y) * sig - pw * y * sig_neg) * factor
    grad_y = w * (times(pw, sp_neg) - sp_pos) * factor
    return value, {"input": grad_x, "target": grad_y}


def _class_rows(a: Arrays, p: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    """(rows (M, C) with classes last, class index per row, counted-row mask, output shape)."""
    x, t = a["input"], a["target"]
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"class indices must be integers, got {t.dtype}")
    batched = x if x.ndim > 1 else x[None]
    expected = (batched.shape[0],) + batched.shape[2:]
    if (t.shape if x.ndim > 1 else (1,) + t.shape) != expected:
        raise ValueError(f"target shape {t.shape} does not match input {x.shape}")
    moved = np.moveaxis(batched, 1, -1)
    rows, classes = moved.reshape(-1, moved.shape[-1]), moved.shape[-1]
    idx = t.reshape(-1)
    valid = idx != p.get("ignore_index", -100)
    if np.any(valid & ((idx < 0) | (idx >= classes))):
        raise IndexError(f"class index out of range [0, {classes})")
    return rows, np.where(valid, idx, 0), valid, (t.shape if x.ndim > 1 else ())


def _unrows(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    batched = x if x.ndim > 1 else x[None]
    moved_shape = np.moveaxis(batched, 1, -1).shape
    return np.moveaxis(g.reshape(moved_shape), -1, 1).reshape(x.shape)


def log_softmax(rows: np.ndarray) -> np.ndarray:
    peak = rows.max(axis=1, keepdims=True) if rows.size else np.zeros((rows.shape[0], 1), rows.dtype)
    with np.errstate(invalid="ignore"):
        shifted = rows - peak
        out = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        # a row with +inf logits: the limit puts all mass on them (log 1/k), none elsewhere
        top = rows == peak
        limit = np.where(top, -np.log(top.sum(axis=1, keepdims=True)).astype(rows.dtype), -np.inf)
    return np.where(np.isposinf(peak), limit, out)


def cross_entropy(a: Arrays, p: Params, reduction: str) -> Result:
    rows, idx, valid, out_shape = _class_rows(a, p)
    classes, smoothing = rows.shape[1], p.get("label_smoothing", 0.0)
    w = a["weight"] if "weight" in a else np.ones(classes, rows.dtype)
    onehot = np.zeros_like(rows)
    onehot[np.arange(rows.shape[0]), idx] = 1
    q = ((1 - smoothing) * onehot + smoothing / classes) * valid[:, None]
    wq = times(q, w)                      # a class weight of inf costs nothing where q is 0
    logp = log_softmax(rows)
    terms = -times(wq, logp).sum(axis=1)
    value, factor = reduce(terms.reshape(out_shape), reduction, (w[idx] * valid).sum())
    g = times(times(wq.sum(axis=1, keepdims=True), np.exp(logp)) - wq, factor)   # ignored rows: exactly 0
    return value, {"input": _unrows(g, a["input"])}


def nll(a: Arrays, p: Params, reduction: str) -> Result:
    rows, idx, valid, out_shape = _class_rows(a, p)
    w = a["weight"] if "weight" in a else np.ones(rows.shape[1], rows.dtype)
    wt = np.where(valid, w[idx], 0)                  # an ignored row weighs 0, whatever w holds
    picked = rows[np.arange(rows.shape[0]), idx]
    terms = -times(wt, picked)
    value, factor = reduce(terms.reshape(out_shape), reduction, wt.sum())
    g = np.zeros_like(rows)
    g[np.arange(rows.shape[0]), idx] = -times(wt, factor)                # ignored rows: exactly 0
    return value, {"input": _unrows(g, a["input"])}


def _probabilities_or_infinite(case) -> str | None:
    x, t = case.arrays["input"], case.arrays["target"]
    if not np.issubdtype(t.dtype, np.integer):
        return None if t.shape != x.shape else "these kernels take class indices, not probabilities"
    return "these kernels do not define the limit at an infinite logit" if np.isinf(x).any() else None


class HandWrittenNumpy(FrameworkAdapter):
    """The adapter: what each kernel covers, and how to run it in a dtype."""
    name = "handwritten"
    recipes = {
        "mse": Recipe(mse, "example_user_adapter.mse", "composed"),
        "bce_with_logits": Recipe(bce_with_logits, "example_user_adapter.bce_with_logits", "composed"),
        "cross_entropy": Recipe(cross_entropy, "example_user_adapter.cross_entropy", "composed",
                                unsupported=_probabilities_or_infinite),
        "nll": Recipe(nll, "example_user_adapter.nll", "composed"),
    }

    def _import(self) -> Any:
        return np

    def version(self) -> str:
        return f"example 1.0 (numpy {np.__version__})"

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def _run(self, recipe: Recipe, arrays: Arrays, params: dict[str, Any], reduction: str, dtype: str,
             device: str, wrt: tuple[str, ...]) -> Output:
        compute = np.float64 if dtype == "float64" else np.float32       # opmath
        inputs = {k: (v.astype(compute) if np.issubdtype(v.dtype, np.floating) else v) for k, v in arrays.items()}
        with np.errstate(all="ignore"):
            value, grads = recipe.fn(inputs, params, reduction)
        out = numpy_dtype(dtype)

        def back(v: Any) -> np.ndarray:
            return np.asarray(v).astype(out).astype(np.float64)
        return Output(back(value), {n: back(grads[n]) for n in wrt})


ADAPTER = HandWrittenNumpy()
