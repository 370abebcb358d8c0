"""TensorFlow recipes of the binary family: keras.ops.binary_crossentropy on
probabilities (with its documented clip, a policy), tf.nn on logits."""
from __future__ import annotations

from typing import Any

import numpy as np

from conformance.vocab.dtypes import numpy_dtype

from ...base import Policy, Recipe
from ..ops import Params, Tensors, modules, reduce, tf as _tf

TF_DOCS = "https://www.tensorflow.org/api_docs/python/"
KERAS_DOCS = "https://keras.io/api/"


def _bce(a: Tensors, p: Params, r: str) -> Any:
    keras = modules()[1]
    terms = keras.ops.binary_crossentropy(a["target"], a["input"])
    if "weight" in a:
        terms = terms * a["weight"]
    return reduce(terms, r)


def _bce_with_logits(a: Tensors, p: Params, r: str) -> Any:
    tf = _tf()
    x, y = a["input"], a["target"]
    if "pos_weight" in a:
        terms = tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=x, pos_weight=a["pos_weight"])
    else:
        terms = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
    if "weight" in a:
        terms = terms * a["weight"]
    return reduce(terms, r)


RECIPES = {
    "bce": Recipe(_bce, "keras.ops.binary_crossentropy(target, output) (clips to [1e-7, 1 - 1e-7]) "
                        "* weight, then tf.reduce_sum / tf.reduce_mean", "native"),
    "bce_with_logits": Recipe(
        _bce_with_logits, "tf.nn.sigmoid_cross_entropy_with_logits(labels, logits); with pos_weight "
        "tf.nn.weighted_cross_entropy_with_logits(labels, logits, pos_weight); * weight, then "
        "tf.reduce_sum / tf.reduce_mean", "native"),
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
