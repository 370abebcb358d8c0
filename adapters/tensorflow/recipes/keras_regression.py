"""TensorFlow recipes of the keras_regression family: Keras's own losses.

LogCosh, MeanAbsolutePercentageError and MeanSquaredLogarithmicError average over
the LAST axis first, so only their 'mean' ("sum_over_batch_size") is the catalog's
elementwise mean; 'none'/'sum' apply Keras's loss function to a trailing axis of one
(its mean over that axis is the element itself), then tf.reduce_sum: the same Keras
formula, clips included. Dice and Tversky reduce over ``axis``: (1, ..., ndim - 1)
per sample, None for an unbatched sample; with smoothing (which Keras lacks) they
are composed from tf ops.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from conformance.vocab.dtypes import numpy_dtype

from ...base import Policy, Recipe
from ..ops import Params, Tensors, modules, reduce, tf

KERAS = "https://keras.io/api/losses/regression_losses/"
TF_KERAS = "https://www.tensorflow.org/api_docs/python/tf/keras/losses/"
SOURCE = "keras 3.15.1 keras/src/losses/losses.py"


def _keras() -> Any:
    return modules()[1]


def _elementwise(cls: str, fn: str) -> Any:
    def run(a: Tensors, p: Params, r: str) -> Any:
        x, y = a["input"], a["target"]
        keras = _keras()
        if r == "mean":
            return getattr(keras.losses, cls)(reduction="sum_over_batch_size", dtype=x.dtype.name)(y, x)
        if x.shape != y.shape:   # the trailing axis of one must not broadcast
            raise ValueError(f"input shape {x.shape} and target shape {y.shape} differ")
        return reduce(getattr(keras.losses, fn)(y[..., None], x[..., None]), r)
    return run


def _elementwise_kind(case: Any) -> str:
    return "native" if case.reduction == "mean" else "composed"


def _api(cls: str, fn: str) -> str:
    return (f"'mean': keras.losses.{cls}(reduction='sum_over_batch_size', dtype=<dtype>)(target, input); "
            f"'none'/'sum': keras.losses.{fn}(target[..., None], input[..., None]) [tf.reduce_sum] "
            "(Keras's own 'none' is the per-row mean over the last axis and its 'sum' sums those means)")


def _axis(x: Any) -> Any:
    return tuple(range(1, x.shape.rank)) if x.shape.rank >= 2 else None


def _sums(t: Any) -> Any:
    return tf().reduce_sum(t, axis=_axis(t))


_KERAS_REDUCTION = {"none": None, "sum": "sum", "mean": "sum_over_batch_size"}


def _overlap(cls: str) -> Any:
    def run(a: Tensors, p: Params, r: str) -> Any:
        keras = _keras()
        x, y = a["input"], a["target"]
        if p.get("from_logits", False):
            x = keras.ops.sigmoid(x)
        s = float(p.get("smooth", 0.0))
        alpha, beta = float(p.get("alpha", 0.5)), float(p.get("beta", 0.5))
        if s == 0.0:
            kwargs = {"alpha": alpha, "beta": beta} if cls == "Tversky" else {}
            loss = getattr(keras.losses, cls)(axis=_axis(x), reduction=_KERAS_REDUCTION[r],
                                              dtype=x.dtype.name, **kwargs)
            return loss(y, x)
        if x.shape != y.shape:
            raise ValueError(f"input shape {x.shape} and target shape {y.shape} differ")
        i = _sums(x * y)
        if cls == "Dice":
            return reduce(1.0 - (2.0 * i + s) / (_sums(x) + _sums(y) + s), r)
        fp, fn = _sums(x * (1.0 - y)), _sums((1.0 - x) * y)
        return reduce(1.0 - (i + s) / (i + alpha * fp + beta * fn + s), r)
    return run


def _overlap_kind(case: Any) -> str:
    plain = float(case.params.get("smooth", 0.0)) == 0.0 and not case.params.get("from_logits", False)
    return "native" if plain else "composed"


def _overlap_api(cls: str, args: str, formula: str) -> str:
    return (f"keras.losses.{cls}({args}axis=(1, ..., ndim - 1), or None for one unbatched sample, "
            f"reduction=None / 'sum' / 'sum_over_batch_size', dtype=<dtype>)(target, input) "
            f"({TF_KERAS}{cls}); from_logits: keras.ops.sigmoid(input) first (composed); smooth > 0 "
            f"(Keras has no smoothing): composed, {formula} with tf.reduce_sum over the same axes")


def _in_dtype(value: float, dtype: str) -> float:
    """A Python constant as the tensor's dtype holds it."""
    return float(np.asarray(value, dtype=numpy_dtype(dtype)))


RECIPES = {
    "log_cosh": Recipe(_elementwise("LogCosh", "log_cosh"), _api("LogCosh", "log_cosh")
                       + "; Keras computes d + softplus(-2 d) - log 2", _elementwise_kind),
    "mape": Recipe(_elementwise("MeanAbsolutePercentageError", "mean_absolute_percentage_error"),
                   _api("MeanAbsolutePercentageError", "mean_absolute_percentage_error"), _elementwise_kind),
    "msle": Recipe(_elementwise("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error"),
                   _api("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error"), _elementwise_kind),
    "dice": Recipe(_overlap("Dice"), _overlap_api("Dice", "", "1 - (2 I + smooth) / (sum(x) + sum(y) + smooth)"),
                   _overlap_kind),
    "tversky": Recipe(_overlap("Tversky"), _overlap_api(
        "Tversky", "alpha, beta, ", "1 - (I + smooth) / (I + alpha FP + beta FN + smooth), alpha on "
        "FP = sum(x (1 - y)) as the docs say (Keras's own code puts alpha on the false negatives: "
        "finding keras-tversky-alpha-weighs-false-negatives)"), _overlap_kind),
}

POLICIES = {
    "mape": Policy(
        knobs=lambda dtype: {"epsilon": _in_dtype(1e-7, dtype)},
        citation=(f"{KERAS}#meanabsolutepercentageerror-class; {SOURCE}, mean_absolute_percentage_error: "
                  "'Division by zero is prevented by dividing by `maximum(y_true, epsilon)` where "
                  "`epsilon = keras.backend.epsilon()` (default to `1e-7`)'; the code: "
                  "'ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), epsilon))', epsilon "
                  "converted to y_pred's dtype"),
        summary="divides by max(|y|, 1e-7) (1e-7 in the dtype): finite where the mathematics is +inf "
                "or NaN at y = 0, and the |y| < 1e-7 region has derivative 0 in |y|"),
    "msle": Policy(
        knobs={"clip_min": float(np.float32(1e-7))},
        citation=(f"{KERAS}#meansquaredlogarithmicerror-class and {SOURCE}, mean_squared_logarithmic_error: "
                  "'Negative values and 0 values will be replaced with `keras.backend.epsilon()` (default "
                  "to `1e-7`)'; the code: 'ops.log(ops.maximum(y_pred, epsilon) + 1.0)' with epsilon = "
                  "ops.convert_to_tensor(backend.epsilon()), a float32 tensor (float16/bfloat16 inputs are "
                  "promoted to float32 by it)"),
        summary="x and y clipped below at 1e-7 (as float32 holds it) before log(. + 1): finite where the "
                "mathematics is NaN (below -1) or inf (at -1), derivative 0 below the clip"),
    "dice": Policy(
        knobs=lambda dtype: {"eps": _in_dtype(1e-7, dtype)},
        citation=(f"{TF_KERAS}Dice; {SOURCE}, dice: 'ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) "
                  "+ backend.epsilon()' (keras.config.epsilon() = 1e-7, a Python float, so in the dtype)"),
        summary="1e-7 added to sum(x) + sum(y): an empty overlap gives 1, not 0/0"),
    "tversky": Policy(
        knobs=lambda dtype: {"eps": _in_dtype(1e-7, dtype)},
        citation=(f"{TF_KERAS}Tversky; {SOURCE}, tversky: 'intersection + fp * alpha + fn * beta + "
                  "backend.epsilon()' (keras.config.epsilon() = 1e-7, in the dtype)"),
        summary="1e-7 added to the denominator: an empty overlap gives 1, not 0/0"),
}
