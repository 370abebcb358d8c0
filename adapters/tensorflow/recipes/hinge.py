"""TensorFlow recipes of the hinge family: keras.losses.Hinge, SquaredHinge and
CategoricalHinge are native; the perceptron and the integer-label multiclass losses
(optax's), which neither Keras nor tf.nn has, are composed from tf ops.

Keras's Hinge / SquaredHinge average over the last axis before reducing; a trailing
axis of size 1 makes that average the identity, so ``reduction=None`` gives the
elementwise terms and ``reduction='sum'`` their sum: every catalog reduction is one
Keras call. Keras converts a target whose values are all 0 or 1 to 2 t - 1, also
when the caller meant signs: a documented policy.
"""
from __future__ import annotations

from typing import Any

from ...base import Policy, Recipe
from ..ops import Params, Tensors, modules, reduce, tf

KERAS = "https://keras.io/api/losses/hinge_losses/"
KERAS_SOURCE = "keras/src/losses/losses.py"


def _keras_binary(cls_name: str):
    def fn(a: Tensors, p: Params, r: str) -> Any:
        keras = modules()[1]
        x, y = a["input"], a["target"]
        cls = getattr(keras.losses, cls_name)
        if r == "mean":
            return cls(reduction="sum_over_batch_size", dtype=x.dtype.name)(y, x)
        if r not in ("none", "sum"):
            raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {r!r}")
        return cls(reduction=None if r == "none" else "sum", dtype=x.dtype.name)(y[..., None], x[..., None])
    return fn


def _categorical_hinge(a: Tensors, p: Params, r: str) -> Any:
    keras = modules()[1]
    x, y = a["input"], a["target"]
    reduction = {"none": None, "sum": "sum", "mean": "sum_over_batch_size"}[r]
    return keras.losses.CategoricalHinge(reduction=reduction, dtype=x.dtype.name)(y, x)


def _perceptron(a: Tensors, p: Params, r: str) -> Any:
    x, y = a["input"], a["target"]
    if x.shape != y.shape:
        raise ValueError(f"input shape {x.shape} and target shape {y.shape} differ")
    return reduce(tf().maximum(-y * x, tf().zeros_like(x)), r)


def _multiclass(margin: float):
    def fn(a: Tensors, p: Params, r: str) -> Any:
        tf_ = tf()
        x, t = a["input"], a["target"]
        if t.shape != x.shape[:-1]:
            raise ValueError(f"labels of shape {t.shape} do not match scores {x.shape}")
        xy = tf_.gather(x, t, batch_dims=t.shape.rank)      # CPU: raises on an index outside [0, C)
        is_y = tf_.equal(tf_.range(x.shape[-1], dtype=t.dtype), t[..., None])
        d = tf_.where(is_y, tf_.zeros_like(x), margin + x - xy[..., None])
        return reduce(tf_.reduce_max(d, axis=-1), r)
    return fn


def _keras_api(cls: str) -> str:
    return (f"keras.losses.{cls}(reduction=..., dtype=<dtype>) ({KERAS}): 'mean' = "
            "reduction='sum_over_batch_size' on (target, input); 'none' / 'sum' = reduction=None / 'sum' "
            "on (target[..., None], input[..., None]) (the size-1 last axis turns Keras's per-row mean "
            "into the elementwise terms); labels = 'binary' passes the 0/1 target as it is (Keras "
            "converts it)")


RECIPES = {
    "hinge": Recipe(_keras_binary("Hinge"), _keras_api("Hinge")),
    "squared_hinge": Recipe(_keras_binary("SquaredHinge"), _keras_api("SquaredHinge")),
    "categorical_hinge": Recipe(_categorical_hinge, f"keras.losses.CategoricalHinge(reduction=None | 'sum' | "
                                f"'sum_over_batch_size', dtype=<dtype>)(target, input) ({KERAS})"),
    "perceptron": Recipe(_perceptron, "composed: tf.maximum(-y * x, 0), shapes checked equal, then "
                         "tf.reduce_sum / tf.reduce_mean (Keras and tf.nn have no perceptron loss)", "composed"),
    "multiclass_hinge": Recipe(_multiclass(1.0), "composed: d = 1 + x - tf.gather(x, y, batch_dims=...)[..., None] "
                               "with d[y] = 0 (tf.where(tf.range(C) == y[..., None], 0, d)), "
                               "tf.reduce_max(d, -1) per row, then tf.reduce_sum / tf.reduce_mean "
                               "(Keras has no Crammer-Singer hinge on integer labels)", "composed"),
    "multiclass_perceptron": Recipe(_multiclass(0.0), "composed: d = x - tf.gather(x, y, batch_dims=...)[..., None] "
                                    "with d[y] = 0, tf.reduce_max(d, -1) per row, then tf.reduce_sum / "
                                    "tf.reduce_mean (Keras has no perceptron loss)", "composed"),
}

_CONVERSION = Policy(
    knobs={"convert_binary": True},
    citation=(f"{KERAS}#hinge-class: 'y_true values are expected to be -1 or 1. If binary (0 or 1) labels "
              f"are provided we will convert them to -1 or 1'; Keras 3.15.1 {KERAS_SOURCE}, "
              "convert_binary_labels_to_hinge: 'is_binary = ops.all(...)', then '2.0 * y_true - 1.0'"),
    summary="a target whose values are all 0 or 1 is read as 2 t - 1 (all or nothing, per call)")
POLICIES = {"hinge": _CONVERSION, "squared_hinge": _CONVERSION}
