"""TensorFlow recipes of the focal family: Keras's BinaryFocalCrossentropy and
CategoricalFocalCrossentropy (native, with their documented clip as a policy);
PolyLoss-1 composed from tf.nn (neither TF nor Keras has it).

Keras's losses average over the LAST axis first. BinaryFocalCrossentropy is
elementwise, so 'mean' ("sum_over_batch_size") on (N, D) is the elementwise mean,
and 'none' / 'sum' call it on ``x[..., None]``: the mean over a trailing axis of size
1 is the identity, and Keras's own 'none' / 'sum' then act on the elements.
CategoricalFocalCrossentropy's per-row terms are the catalog's terms.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from conformance.vocab.dtypes import eps, numpy_dtype

from ...base import Policy, Recipe
from ..ops import Params, Tensors, modules, reduce, refuse_if, tf

KERAS_LOSSES = "keras/src/losses/losses.py"
KERAS_REDUCTION = {"none": "none", "sum": "sum", "mean": "sum_over_batch_size"}


def _binary_focal(a: Tensors, p: Params, r: str) -> Any:
    keras = modules()[1]
    x, y = a["input"], a["target"]
    kwargs: dict[str, Any] = {"gamma": float(p.get("gamma", 2.0)), "from_logits": bool(p.get("from_logits", True)),
                              "label_smoothing": float(p.get("label_smoothing", 0.0)), "dtype": x.dtype.name}
    if "alpha" in p:
        kwargs.update(apply_class_balancing=True, alpha=float(p["alpha"]))
    if r == "mean":
        return keras.losses.BinaryFocalCrossentropy(reduction="sum_over_batch_size", **kwargs)(y, x)
    return keras.losses.BinaryFocalCrossentropy(reduction=r, **kwargs)(y[..., None], x[..., None])


def _categorical_focal(a: Tensors, p: Params, r: str) -> Any:
    keras = modules()[1]
    x, y = a["input"], a["target"]
    alpha = a["weight"] if "weight" in a else float(p.get("alpha", 1.0))
    return keras.losses.CategoricalFocalCrossentropy(
        alpha=alpha, gamma=float(p.get("gamma", 2.0)), from_logits=bool(p.get("from_logits", True)),
        label_smoothing=float(p.get("label_smoothing", 0.0)), reduction=KERAS_REDUCTION[r], dtype=x.dtype.name)(y, x)


def _poly1(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x, y = a["input"], a["target"]
    if x.shape != y.shape or x.shape.rank not in (1, 2):
        raise ValueError(f"input {x.shape} and target {y.shape} must be one (C,) or (N, C) shape")
    refuse_if((y < 0) | (y > 1), "labels must lie in [0, 1]")
    # from tf.nn.log_softmax: the fused softmax_cross_entropy_with_logits' gradient
    # assumes labels that sum to 1 (finding tf-softmax-ce-gradient-needs-normalised-labels)
    ce = -tf_.reduce_sum(y * tf_.nn.log_softmax(x), axis=-1)
    poly = tf_.reduce_sum(y * (1.0 - tf_.nn.softmax(x)), axis=-1)
    return reduce(ce + float(p.get("epsilon", 2.0)) * poly, r)


def _in_dtype(value: float, dtype: str) -> float:
    """A Python constant as Keras's clip holds it: cast to the tensor's dtype."""
    return float(np.asarray(value, dtype=numpy_dtype(dtype)))


def _clip(dtype: str) -> tuple[float, float]:
    return (_in_dtype(1e-7, dtype), _in_dtype(1.0 - 1e-7, dtype))


RECIPES = {
    "binary_focal": Recipe(
        _binary_focal,
        "keras.losses.BinaryFocalCrossentropy(apply_class_balancing=alpha is given, alpha, gamma, from_logits, "
        "label_smoothing, dtype=<dtype>): 'mean' as reduction='sum_over_batch_size' on (N, D); 'none' / 'sum' "
        "as reduction='none' / 'sum' on (y[..., None], x[..., None]) (Keras averages over the last axis first)",
        "native"),
    "categorical_focal": Recipe(
        _categorical_focal,
        "keras.losses.CategoricalFocalCrossentropy(alpha=weight or alpha or 1.0 (Keras's default 0.25 "
        "always balances), gamma, from_logits, label_smoothing, reduction='none' | 'sum' | "
        "'sum_over_batch_size', dtype=<dtype>)", "native"),
    "poly1_cross_entropy": Recipe(
        _poly1,
        "composed: -tf.reduce_sum(labels * tf.nn.log_softmax(logits), -1) + epsilon * "
        "tf.reduce_sum(labels * (1 - tf.nn.softmax(logits)), -1) (neither TF nor Keras has a poly loss; "
        "tf.nn.softmax_cross_entropy_with_logits would give a wrong gradient for labels not summing to 1)",
        "composed"),
}

POLICIES = {
    "binary_focal": Policy(
        knobs=lambda dtype: {"prob_clip": _clip(dtype)},
        citation=("https://keras.io/api/losses/probabilistic_losses/#binaryfocalcrossentropy-class (no word of "
                  f"a clip); Keras 3.15.1 {KERAS_LOSSES}, binary_focal_crossentropy, lines 2506-2510: "
                  "'bce = ops.binary_crossentropy(target=y_true, output=y_pred, from_logits=False)', whose "
                  "TF backend (keras/src/backend/tensorflow/nn.py lines 1484-1486) clips the probabilities to "
                  "[backend.epsilon(), 1 - backend.epsilon()], epsilon = 1e-7; lines 2513-2514 compute the "
                  "focal factor from the unclipped y_pred. With from_logits the sigmoid's _keras_logits "
                  "route to tf.nn.sigmoid_cross_entropy_with_logits: no clip"),
        summary="probabilities (from_logits=False) clipped to [1e-7, 1 - 1e-7] (as the dtype holds them) in the "
                "cross-entropy, not in the focal factor; the clip's gradient is 0 outside"),
    "categorical_focal": Policy(
        knobs=lambda dtype: {"prob_clip": _clip(dtype), "normalize": True, "clip_margin": 8 * eps(dtype)},
        citation=("https://keras.io/api/losses/probabilistic_losses/#categoricalfocalcrossentropy-class (no "
                  f"word of it); Keras 3.15.1 {KERAS_LOSSES}, categorical_focal_crossentropy, lines 2284-2298: "
                  "'y_pred = ops.softmax(y_pred, axis=axis)' (from_logits), 'output = y_pred / ops.sum(y_pred, "
                  "axis=axis, keepdims=True)', 'output = ops.clip(output, backend.epsilon(), 1.0 - "
                  "backend.epsilon())', then both 'ops.log(output)' and 'ops.power(1.0 - output, gamma)'"),
        summary="probabilities (also softmax(logits)) divided by their row sum and clipped to [1e-7, 1 - 1e-7] "
                "(as the dtype holds them) for the log and the focal factor; the clip's gradient is 0 outside "
                "(either side within 8 eps of an edge: softmax rounds)"),
}
