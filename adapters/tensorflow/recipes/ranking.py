"""TensorFlow recipes of the ranking family: TF and Keras have no listwise softmax
loss (TF-Ranking's tfr.keras.losses.SoftmaxLoss, same formula, is a separate
package), so it is composed from tf ops (the ``api`` string is the
migration guide)."""
from __future__ import annotations

from typing import Any

from ...base import Recipe
from ..ops import Params, Tensors, tf


def _times(a: Any, b: Any) -> Any:
    """a * b with 0 * (+-inf) = 0 but 0 * NaN = NaN, and the exact derivatives:
    d/da = b (also where a = 0), d/db = a (0 where a = 0, not 0 * inf)."""
    tf_ = tf()

    @tf_.custom_gradient
    def times(a: Any, b: Any) -> Any:
        value = tf_.where((a == 0) & ~tf_.math.is_nan(b), tf_.zeros_like(b), a * b)

        def grad(g: Any) -> tuple[Any, Any]:
            return g * b, tf_.where(a == 0, tf_.zeros_like(g), g * a)
        return value, grad
    return times(a, b)


def _ranking_softmax(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    s, y = a["logits"], a["labels"]
    for name in ("labels", "where", "weights"):
        if name in a and a[name].shape != s.shape:
            raise ValueError(f"{name} shape {a[name].shape} differs from logits {s.shape}")
    valid = a["where"] != 0 if "where" in a else tf_.ones_like(s, dtype=tf_.bool)
    q = y * a["weights"] if "weights" in a else y
    q = tf_.where(valid, q, tf_.zeros_like(q))
    log_p = tf_.nn.log_softmax(tf_.where(valid, s, tf_.fill(tf_.shape(s), tf_.constant(-float("inf"), s.dtype))),
                               axis=-1)
    terms = -tf_.reduce_sum(tf_.where(valid, _times(q, log_p), tf_.zeros_like(log_p)), axis=-1)
    if r == "none":
        return terms
    if r == "sum":
        return tf_.reduce_sum(terms)
    if r == "mean":
        counted = tf_.reduce_any(valid, axis=-1) if "where" in a else tf_.ones_like(terms, dtype=tf_.bool)
        return tf_.reduce_sum(terms) / tf_.reduce_sum(tf_.cast(counted, terms.dtype))   # no list: NaN
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {r!r}")


RECIPES = {
    "ranking_softmax": Recipe(
        _ranking_softmax,
        "composed: valid = where != 0; q = tf.where(valid, w * y, 0); log_p = "
        "tf.nn.log_softmax(tf.where(valid, s, -inf), axis=-1); loss = -sum over valid items of "
        "q * log_p (0 where q = 0, a tf.custom_gradient for exact derivatives); 'mean' divides "
        "by the number of lists with a valid item (TF and Keras have no listwise softmax loss; "
        "tfr.keras.losses.SoftmaxLoss of the separate TF-Ranking package has the same formula)", "composed"),
}
POLICIES: dict = {}
