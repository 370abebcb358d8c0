"""TensorFlow recipes of the margin family: neither TF nor Keras has torch's margin
losses, so each is composed from tf ops (the ``api`` string is the migration guide)."""
from __future__ import annotations

from typing import Any

from ..base import Recipe
from ..tf_ops import Params, Tensors, reduce, tf


def _margin_ranking(a: Tensors, p: Params, r: str) -> Any:
    x1, x2, y = a["input1"], a["input2"], a["target"]
    if not x1.shape == x2.shape == y.shape:
        raise ValueError(f"shapes differ: {x1.shape}, {x2.shape}, {y.shape}")
    return reduce(tf().maximum(tf().zeros_like(x1), -y * (x1 - x2) + float(p.get("margin", 0.0))), r)


RECIPES = {
    "margin_ranking": Recipe(_margin_ranking, "composed: tf.maximum(0, -y * (x1 - x2) + margin) "
                             "(Keras and tf.nn have no margin ranking loss)", "composed"),
}
POLICIES: dict = {}
