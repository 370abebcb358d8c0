"""TensorFlow 2 / Keras 3: TF and Keras's own losses where they exist, tf ops elsewhere.

Keras's regression losses average over the last axis first, so only their
'mean' ("sum_over_batch_size") is the elementwise mean; 'none' and 'sum' are
composed from tf ops. Keras losses compute in ``keras.config.floatx()``
(float32) unless given ``dtype``: the adapter always passes the test dtype.
Cross-entropy uses tf.nn's fused ops when the case is plain (no weight, no
smoothing, no ignored row) and is composed from ``tf.nn.log_softmax`` otherwise;
TF has no weighted/ignored/smoothed softmax cross-entropy and no NLL loss.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Mapping

import numpy as np

from conformance.case import Case
from conformance.dtypes import numpy_dtype

from .base import FrameworkAdapter, Output, Policy, Recipe, is_probability_target
from .native_logs import GPU_PROBE, TF_RAISED, filtered_stderr
from .tensorflow_recipes import POLICIES as FAMILY_POLICIES, RECIPES as FAMILY_RECIPES
from .tf_ops import Params, Tensors, modules as _modules, reduce as _reduce, tf as _tf

TF_DOCS = "https://www.tensorflow.org/api_docs/python/"
KERAS_DOCS = "https://keras.io/api/"


# -- regression ----------------------------------------------------------------
def _huber_terms(d: Any, delta: float) -> Any:
    """0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta); the quadratic branch only
    sees the small d, so an infinite d does not make its gradient inf * 0 = NaN."""
    tf = _tf()
    a = tf.abs(d)
    small = a <= delta
    d_small = tf.where(small, d, tf.zeros_like(d))
    return tf.where(small, 0.5 * tf.square(d_small), delta * (a - 0.5 * delta))


def _regression_terms(loss: str, d: Any, p: Params) -> Any:
    tf = _tf()
    if loss == "l1":
        return tf.abs(d)
    if loss == "mse":
        return tf.square(d)
    if loss == "huber":
        return _huber_terms(d, float(p.get("delta", 1.0)))
    return _smooth_l1_terms(d, float(p.get("beta", 1.0)))


def _smooth_l1_terms(d: Any, beta: float) -> Any:
    """0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta (= Huber(delta=beta) / beta, written
    without the product beta |d|, which underflows in float16 for a small beta). beta = 0,
    or a beta that rounds to 0 in the dtype, is L1."""
    tf = _tf()
    a = tf.abs(d)
    if float(tf.cast(beta, d.dtype)) == 0.0:
        return a
    small = a < beta
    d_small = tf.where(small, d, tf.zeros_like(d))
    return tf.where(small, 0.5 * tf.square(d_small) / beta, a - 0.5 * beta)


def _regression(loss: str, keras_class: str | None) -> Callable[[Tensors, Params, str], Any]:
    def fn(a: Tensors, p: Params, r: str) -> Any:
        x, y = a["input"], a["target"]
        if r == "mean" and keras_class is not None:
            keras = _modules()[1]
            kwargs = {"delta": float(p.get("delta", 1.0))} if loss == "huber" else {}
            cls = getattr(keras.losses, keras_class)
            return cls(reduction="sum_over_batch_size", dtype=x.dtype.name, **kwargs)(y, x)
        return _reduce(_regression_terms(loss, x - y, p), r)
    return fn


def _mean_native(case: Case) -> str:
    return "native" if case.reduction == "mean" else "composed"


def _keras_api(cls: str, term: str, args: str = "") -> str:
    return (f"'mean': keras.losses.{cls}({args}reduction='sum_over_batch_size', dtype=<dtype>); "
            f"'none'/'sum': {term} [tf.reduce_sum] (Keras's own 'none' gives per-row means over "
            "the last axis and its 'sum' sums those means: not the elementwise sum)")


# -- binary ---------------------------------------------------------------------
def _bce(a: Tensors, p: Params, r: str) -> Any:
    keras = _modules()[1]
    terms = keras.ops.binary_crossentropy(a["target"], a["input"])
    if "weight" in a:
        terms = terms * a["weight"]
    return _reduce(terms, r)


def _bce_with_logits(a: Tensors, p: Params, r: str) -> Any:
    tf = _tf()
    x, y = a["input"], a["target"]
    if "pos_weight" in a:
        terms = tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=x, pos_weight=a["pos_weight"])
    else:
        terms = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
    if "weight" in a:
        terms = terms * a["weight"]
    return _reduce(terms, r)


# -- classification ---------------------------------------------------------------
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
    """No weight, no smoothing and no ignored row: tf.nn's fused ops apply as they are."""
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
        return _reduce(terms, r)
    rows, shape = _rows(x)
    classes = rows.shape[-1]
    ls = float(p.get("label_smoothing", 0.0))
    w = _class_weight(a, classes, rows.dtype)
    logp = tf.nn.log_softmax(rows, axis=-1)
    if _prob_target(a):
        q = (1.0 - ls) * _rows(y)[0] + ls / classes
        terms = -tf.reduce_sum(w * q * logp, axis=-1)
        return _reduce(tf.reshape(terms, shape), r)
    t, valid = _labels(a, p)
    wt = tf.gather(w, t)  # raises on CPU for an index outside [0, C)
    terms = -(1.0 - ls) * wt * tf.gather(logp, t, batch_dims=1)
    if ls != 0.0:   # scale before summing: a sum of C log-probabilities overflows float16
        terms -= tf.reduce_sum(w * logp * (ls / classes), axis=-1)
    zero = tf.zeros_like(terms)
    terms = tf.where(valid, terms, zero)
    return _reduce(tf.reshape(terms, shape), r, tf.reduce_sum(tf.where(valid, wt, zero)))


def _nll(a: Tensors, p: Params, r: str) -> Any:
    tf = _tf()
    rows, shape = _rows(a["input"])
    t, valid = _labels(a, p)
    w = _class_weight(a, rows.shape[-1], rows.dtype)
    wt = tf.gather(w, t)  # raises on CPU for an index outside [0, C)
    zero = tf.zeros_like(wt)
    terms = tf.where(valid, -wt * tf.gather(rows, t, batch_dims=1), zero)
    return _reduce(tf.reshape(terms, shape), r, tf.reduce_sum(tf.where(valid, wt, zero)))


def _ce_kind(case: Case) -> str:
    native = _ce_is_native(case.arrays, case.params, is_probability_target(case))
    return "native" if native else "composed"


_MASKED = ("ignore_index replaced by 0 before tf.gather, ignored rows set to 0 by tf.where; "
           "'mean' = sum / sum of w[y] over counted rows")

RECIPES = {
    "l1": Recipe(_regression("l1", "MeanAbsoluteError"),
                 _keras_api("MeanAbsoluteError", "tf.abs(x - y)"), _mean_native),
    "mse": Recipe(_regression("mse", "MeanSquaredError"),
                  _keras_api("MeanSquaredError", "tf.square(x - y)"), _mean_native),
    "huber": Recipe(_regression("huber", "Huber"),
                    _keras_api("Huber", "tf.where(|d| <= delta, 0.5 d^2, delta (|d| - 0.5 delta))",
                               "delta, "), _mean_native),
    "smooth_l1": Recipe(_regression("smooth_l1", None),
                        "composed: tf.where(|d| < beta, 0.5 d^2 / beta, |d| - 0.5 beta), i.e. "
                        "Huber(delta=beta) / beta (beta = 0: tf.abs(x - y)), then tf.reduce_sum / "
                        "tf.reduce_mean", "composed"),
    "bce": Recipe(_bce, "keras.ops.binary_crossentropy(target, output) (clips to [1e-7, 1 - 1e-7]) "
                        "* weight, then tf.reduce_sum / tf.reduce_mean", "native"),
    "bce_with_logits": Recipe(
        _bce_with_logits, "tf.nn.sigmoid_cross_entropy_with_logits(labels, logits); with pos_weight "
        "tf.nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight); * weight, then "
        "tf.reduce_sum / tf.reduce_mean", "native"),
    "cross_entropy": Recipe(
        _cross_entropy, "plain class indices: tf.nn.sparse_softmax_cross_entropy_with_logits(labels, "
        "logits with classes moved last); plain probabilities: tf.nn.softmax_cross_entropy_with_logits("
        "labels, logits, axis=1); with weight / ignored rows / label_smoothing composed from "
        "tf.nn.log_softmax: -(1 - ls) w[y] logp[y] - ls/C sum_c w_c logp_c, " + _MASKED +
        " (probabilities: q = (1 - ls) y + ls/C, 'mean' divides by the number of rows)", _ce_kind),
    "nll": Recipe(_nll, "composed: -w[y] * tf.gather(x, y, batch_dims=1) on classes-last rows, "
                  + _MASKED, "composed"),
}

KERAS_BCE_SOURCE = "keras/src/backend/tensorflow/nn.py"


def _in_dtype(value: float, dtype: str) -> float:
    """A Python constant as tf.clip_by_value holds it: cast to the tensor's dtype."""
    return float(np.asarray(value, dtype=numpy_dtype(dtype)))
POLICIES = {
    "bce": Policy(
        knobs=lambda dtype: {"prob_clip": (_in_dtype(1e-7, dtype), _in_dtype(1.0 - 1e-7, dtype))},
        citation=(TF_DOCS + "tf/keras/ops/binary_crossentropy and " + KERAS_DOCS
                  + "losses/probabilistic_losses/#binarycrossentropy-class (neither mentions the clip); "
                  f"Keras 3.15.1 {KERAS_BCE_SOURCE}, binary_crossentropy, lines 1484-1486: "
                  "'output = tf.clip_by_value(output, backend.epsilon(), 1.0 - backend.epsilon())'; "
                  "keras/src/backend/config.py line 10: '_EPSILON = 1e-7' (keras.config.epsilon())"),
        summary="probabilities clipped to [1e-7, 1 - 1e-7] (as the dtype holds them) before the logs; "
                "the clip's gradient is 0 outside the interval"),
}


RECIPES = {**RECIPES, **FAMILY_RECIPES}
POLICIES = {**POLICIES, **FAMILY_POLICIES}


class TensorflowAdapter(FrameworkAdapter):
    name = "tensorflow"
    recipes = RECIPES
    policies_by_loss = POLICIES

    def _import(self) -> Any:
        tf = _tf()
        tf.config.experimental.enable_tensor_float_32_execution(False)   # full float32 on GPUs
        return tf

    def environment(self) -> dict[str, Any]:
        tf = self._import()
        return {"devices": list(self.devices()),
                "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
                "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
                "cuda_build": tf.sysconfig.get_build_info().get("cuda_version")}

    def version(self) -> str:
        tf, keras = _modules()
        return f"tensorflow {tf.__version__} / keras {keras.__version__}"

    @functools.cache
    def devices(self) -> tuple[str, ...]:
        tf = self._import()
        with filtered_stderr(GPU_PROBE):
            gpus = tf.config.list_physical_devices("GPU")
        return ("cpu", "cuda") if gpus else ("cpu",)

    def _prepare(self, recipe: Recipe, arrays: Mapping[str, np.ndarray], params: dict[str, Any],
                 reduction: str, dtype: str, device: str, wrt: tuple[str, ...]) -> Callable[[], Output]:
        tf = self._import()
        tdtype = getattr(tf, dtype)
        place = "/GPU:0" if device == "cuda" else "/CPU:0"
        with filtered_stderr(TF_RAISED), tf.device(place):
            tensors = {name: (tf.cast(tf.constant(a, tf.float64), tdtype)
                              if np.issubdtype(a.dtype, np.floating) else tf.constant(a, tf.int64))
                       for name, a in arrays.items()}
        leaves = [n for n in wrt if n in tensors and tensors[n].dtype.is_floating]

        def call() -> Output:
            with filtered_stderr(TF_RAISED), tf.device(place):
                with tf.GradientTape() as tape:
                    for n in leaves:
                        tape.watch(tensors[n])
                    out = recipe.fn(tensors, params, reduction)
                    total = tf.reduce_sum(out)
                gs = tape.gradient(total, [tensors[n] for n in leaves]) if leaves else []
                grads = {n: (np.zeros(arrays[n].shape) if g is None
                             else tf.cast(tf.convert_to_tensor(g), tf.float64).numpy())
                         for n, g in zip(leaves, gs)}
                return Output(tf.cast(out, tf.float64).numpy(), grads)
        return call
