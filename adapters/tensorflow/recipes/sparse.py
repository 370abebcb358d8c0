"""TensorFlow recipes of the sparse family: neither TF nor Keras has a sparsemax loss
(tfa.losses.SparsemaxLoss went with TensorFlow Addons), so both are composed from tf
ops (the ``api`` strings are the migration guide).

The multiclass loss is a ``tf.custom_gradient``: its forward computes sparsemax by
sorting, its gradient is the closed form p - onehot(y) (a Fenchel-Young loss),
which also holds at the limits of infinite scores.
"""
from __future__ import annotations

from typing import Any

from ...base import Recipe
from ..ops import Params, Tensors, reduce, refuse_if, tf

INF = float("inf")


def _sparse_plus(z: Any) -> Any:
    """0 (z <= -1), (z + 1)^2 / 4 (|z| < 1), z (z >= 1); the quadratic branch sees 0
    where it is not used (no inf * 0 in the gradient), NaN where z is NaN."""
    tf_ = tf()
    zero = tf_.zeros_like(z)
    inner = tf_.where(tf_.abs(z) >= 1, zero, z)
    return tf_.where(z <= -1, zero, tf_.where(z >= 1, z, (inner + 1) ** 2 / 4))


def _sparsemax(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x, y = a["logits"], a["labels"]
    if x.shape != y.shape:
        raise ValueError(f"logits shape {x.shape} and labels shape {y.shape} differ")
    refuse_if((y != 0) & (y != 1) & ~tf_.math.is_nan(y), "labels must be 0 or 1")
    # + 0 * y: a NaN label is NaN in the value and the gradient (y != 0 alone takes it for 1)
    return reduce(_sparse_plus(tf_.where(y != 0, -x, x) + 0.0 * y), r)


def _sparsemax_rows(z: Any) -> tuple[Any, Any]:
    """(sparsemax of each row, the rows shifted by their maximum), by sorting; a row
    whose maximum is +-inf puts its mass evenly on the entries equal to it."""
    tf_ = tf()
    m = tf_.reduce_max(z, axis=1, keepdims=True)
    minus_inf = tf_.fill(tf_.shape(z), tf_.constant(-INF, z.dtype))
    is_inf = tf_.math.is_inf(m) & tf_.ones_like(z, dtype=tf_.bool)
    d = tf_.where(is_inf, tf_.where(z == m, tf_.zeros_like(z), minus_inf), z - m)
    u = tf_.sort(d, axis=1, direction="DESCENDING")
    cums = tf_.cumsum(u, axis=1)
    j = tf_.cast(tf_.range(1, tf_.shape(z)[1] + 1), z.dtype)
    k = tf_.maximum(tf_.reduce_sum(tf_.cast(1 + j * u > cums, tf_.int64), axis=1), 1)
    tau = (tf_.gather(cums, k - 1, batch_dims=1) - 1) / tf_.cast(k, z.dtype)
    p = tf_.maximum(d - tau[:, None], 0)
    nan_row = tf_.reduce_any(tf_.math.is_nan(z), axis=1, keepdims=True) & tf_.ones_like(z, dtype=tf_.bool)
    return tf_.where(nan_row, tf_.fill(tf_.shape(z), tf_.constant(float("nan"), z.dtype)), p), d


def _loss(z: Any, y: Any) -> Any:
    tf_ = tf()

    @tf_.custom_gradient
    def loss(scores: Any) -> Any:
        p, d = _sparsemax_rows(scores)
        d_y = tf_.gather(d, y, batch_dims=1)
        pd = tf_.reduce_sum(p * tf_.where(p > 0, d, tf_.zeros_like(d)), axis=1)
        value = -d_y + pd + (1 - tf_.reduce_sum(p * p, axis=1)) / 2

        def grad(g: Any) -> Any:
            return g[:, None] * (p - tf_.one_hot(y, tf_.shape(scores)[1], dtype=scores.dtype))
        return value, grad
    return loss(z)


def _multiclass_sparsemax(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    z, y = a["scores"], a["labels"]
    if z.shape.rank != 2 or y.shape != z.shape[:1]:
        raise ValueError(f"scores must be (N, C) and labels (N,); got {z.shape}, {y.shape}")
    refuse_if((y < 0) | (y >= z.shape[1]), f"labels must lie in [0, {z.shape[1]})")
    return reduce(_loss(z, y), r)


RECIPES = {
    "sparsemax": Recipe(_sparsemax, "composed: z = tf.where(y != 0, -x, x); tf.where(z <= -1, 0, "
                        "tf.where(z >= 1, z, (z + 1)**2 / 4)) with z replaced by 0 inside the "
                        "quadratic where |z| >= 1 (no inf * 0 in the gradient); labels must be 0 or 1 (NaN propagates) "
                        "(TF and Keras have no sparsemax loss)", "composed"),
    "multiclass_sparsemax": Recipe(
        _multiclass_sparsemax,
        "composed: a tf.custom_gradient; forward: d = z - reduce_max(z), u = tf.sort(d, "
        "'DESCENDING'), k = #(1 + j u_j > tf.cumsum(u)_j), tau = (cumsum(u)_k - 1) / k, "
        "p = tf.maximum(d - tau, 0), loss = -d_y + sum(p * d) + (1 - sum(p^2)) / 2; gradient: "
        "p - tf.one_hot(y) (TF and Keras have no sparsemax loss)", "composed"),
}
POLICIES: dict = {}
