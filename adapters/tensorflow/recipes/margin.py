"""TensorFlow recipes of the margin family: neither TF nor Keras has torch's margin
losses, so each is composed from tf ops (the ``api`` string is the migration guide).

The recipes run eagerly, so they refuse what the mathematics refuses (labels other
than +-1 for the hinge embedding, class indices out of range, p other than 1 or 2)
with a ValueError, as a Python check on the tensors' values.
"""
from __future__ import annotations

from typing import Any

from ...base import Recipe, require_same_shapes
from ..ops import Params, Tensors, reduce, refuse_if, tf


_refuse_if = refuse_if


def _margin_ranking(a: Tensors, p: Params, r: str) -> Any:
    x1, x2, y = a["input1"], a["input2"], a["target"]
    require_same_shapes(x1, x2, y)
    return reduce(tf().maximum(tf().zeros_like(x1), -y * (x1 - x2) + float(p.get("margin", 0.0))), r)


def _hinge_embedding(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    _refuse_if((y != 1) & (y != -1), "hinge_embedding: target must contain 1 or -1")
    hinge = tf_.maximum(tf_.zeros_like(x), float(p.get("margin", 1.0)) - x)
    return reduce(tf_.where(y == 1, x, hinge), r)


def _soft_margin(a: Tensors, p: Params, r: str) -> Any:
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    return reduce(tf().math.softplus(-y * x), r)


def _times(coef: Any, value: Any) -> Any:
    """coef * value, 0 where coef is 0 (even if value is infinite), with the exact
    derivatives: d/dcoef = value everywhere (a double tf.where would give 0 where
    coef = 0), d/dvalue = coef (0 where coef = 0, no 0 * inf)."""
    tf_ = tf()

    @tf_.custom_gradient
    def product(c: Any, v: Any) -> Any:
        zero = c == 0
        out = tf_.where(zero, tf_.zeros_like(v), c * tf_.where(zero, tf_.ones_like(v), v))

        def grad(up: Any) -> tuple[Any, Any]:
            return up * v, tf_.where(zero, tf_.zeros_like(v), up * c)
        return out, grad
    return product(coef, value)


def _multilabel_soft_margin(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    if x.shape.rank not in (1, 2):
        raise ValueError(f"input must have shape (C,) or (N, C), got {tuple(x.shape)}")
    classes = x.shape[-1]
    if "weight" in a and tuple(a["weight"].shape) != (classes,):
        raise ValueError(f"weight must have shape ({classes},), got {tuple(a['weight'].shape)}")
    softplus = tf_.math.softplus
    terms = _times(y, softplus(-x)) + _times(1.0 - y, softplus(x))
    if "weight" in a:
        terms = a["weight"] * terms
    return reduce(tf_.reduce_sum(terms, axis=-1) / classes, r)


def _rows(x: Any, t: Any, target_shape: tuple[int, ...]) -> tuple[Any, Any, bool]:
    if x.shape.rank not in (1, 2):
        raise ValueError(f"input must have shape (C,) or (N, C), got {tuple(x.shape)}")
    if tuple(t.shape) != target_shape:
        raise ValueError(f"target shape {tuple(t.shape)} does not match input {tuple(x.shape)}")
    return (x[None], t[None], True) if x.shape.rank == 1 else (x, t, False)


def _multilabel_margin(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x, t, unbatched = _rows(a["input"], a["target"], tuple(a["input"].shape))
    classes = x.shape[-1]
    _refuse_if((t < -1) | (t >= classes), f"multilabel_margin: target entries must lie in [-1, {classes})")
    listed = tf_.cumsum(tf_.cast(t < 0, tf_.int64), axis=-1) == 0      # entries before the first -1
    ti = tf_.where(listed, t, tf_.zeros_like(t))
    onehot = tf_.logical_and(tf_.one_hot(ti, classes, on_value=True, off_value=False), listed[:, :, None])
    pairs = tf_.logical_and(listed[:, :, None], ~tf_.reduce_any(onehot, axis=1)[:, None, :])
    xt = tf_.gather(x, ti, batch_dims=1)
    z = 1.0 - xt[:, :, None] + x[:, None, :]
    hinge = tf_.maximum(tf_.zeros_like(z), z)
    terms = tf_.reduce_sum(tf_.where(pairs, hinge, tf_.zeros_like(z)), axis=[1, 2]) / classes
    return reduce(terms[0] if unbatched else terms, r)


def _multi_margin(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    power = p.get("p", 1)
    if power not in (1, 2):
        raise ValueError(f"only p == 1 and p == 2 supported, got {power!r}")
    x, t, unbatched = _rows(a["input"], a["target"], tuple(a["input"].shape[:-1]))
    classes = x.shape[-1]
    if "weight" in a and tuple(a["weight"].shape) != (classes,):
        raise ValueError(f"weight must have shape ({classes},), got {tuple(a['weight'].shape)}")
    t = tf_.reshape(t, [-1])
    _refuse_if((t < 0) | (t >= classes), f"multi_margin: class index out of range [0, {classes})")
    xt = tf_.gather(x, t[:, None], batch_dims=1)
    others = ~tf_.one_hot(t, classes, on_value=True, off_value=False)
    z = float(p.get("margin", 1.0)) - xt + x
    h = tf_.where(others, tf_.maximum(tf_.zeros_like(z), z), tf_.zeros_like(z))
    w = tf_.gather(a["weight"], t) if "weight" in a else tf_.ones_like(xt[:, 0])
    c = (w / classes)[:, None]                                           # w[y] / C
    terms = tf_.reduce_sum(c * h if power == 1 else c * h * h, axis=-1)   # scaled before the sum
    return reduce(terms[0] if unbatched else terms, r)


RECIPES = {
    "margin_ranking": Recipe(_margin_ranking, "composed: tf.maximum(0, -y * (x1 - x2) + margin) "
                             "(Keras and tf.nn have no margin ranking loss)", "composed"),
    "hinge_embedding": Recipe(
        _hinge_embedding, "composed: tf.where(y == 1, x, tf.maximum(0, margin - x)) (Keras and tf.nn "
        "have no hinge embedding loss; keras.losses.Hinge is max(0, 1 - y x))", "composed"),
    "soft_margin": Recipe(_soft_margin, "composed: tf.math.softplus(-y * x), 'mean' over all elements "
                          "(Keras and tf.nn have no soft margin loss)", "composed"),
    "multilabel_soft_margin": Recipe(
        _multilabel_soft_margin,
        "composed: tf.reduce_sum(w * (y * tf.math.softplus(-x) + (1 - y) * tf.math.softplus(x)), "
        "axis=-1) / C, each product 0 where its coefficient is 0 (tf.custom_gradient keeps d/dy = "
        "softplus(-x) there); 'mean' over the N rows (tf.nn.sigmoid_cross_entropy_with_logits gives "
        "the per-element term but NaN at infinite logits, and no weight or 1/C)", "composed"),
    "multilabel_margin": Recipe(
        _multilabel_margin,
        "composed: targets = the entries before the first -1 (tf.cumsum(t < 0, -1) == 0); "
        "tf.reduce_sum(tf.maximum(0, 1 - x[y_j] + x[i]) over listed j and non-target i) / C, "
        "x[y_j] by tf.gather(x, y, batch_dims=1) (Keras and tf.nn have no multi-label margin loss)",
        "composed"),
    "multi_margin": Recipe(
        _multi_margin,
        "composed: tf.reduce_sum(w[y] / C * tf.maximum(0, margin - x[y] + x[i]) ** p over i != y) "
        "(scaled before the sum: float16 overflows otherwise), x[y] by tf.gather(x, y, batch_dims=1); "
        "'mean' is the plain mean over rows "
        "(keras.losses.CategoricalHinge is max(0, 1 + max_{i != y} x_i - x_y), one hinge per row)",
        "composed"),
}
POLICIES: dict = {}
