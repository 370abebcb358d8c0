"""TensorFlow recipes of the regression family: Keras's losses for 'mean' (its
"sum_over_batch_size"), tf ops for 'none' and 'sum' (Keras averages over the last
axis first); smooth L1 composed. The composed paths refuse unequal shapes (the mathematics
pairs the elements), where tf.subtract would broadcast (4, 1) against (4,) to (4, 4)."""
from __future__ import annotations

from typing import Any, Callable

from conformance.vocab.case import Case

from ...base import Recipe
from ..ops import Params, Tensors, modules, reduce, tf as _tf


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
    if float(tf.get_static_value(tf.cast(beta, d.dtype))) == 0.0:     # a constant: static in a graph too
        return a
    small = a < beta
    d_small = tf.where(small, d, tf.zeros_like(d))
    return tf.where(small, 0.5 * tf.square(d_small) / beta, a - 0.5 * beta)


def _regression(loss: str, keras_class: str | None) -> Callable[[Tensors, Params, str], Any]:
    def fn(a: Tensors, p: Params, r: str) -> Any:
        x, y = a["input"], a["target"]
        if r == "mean" and keras_class is not None:
            keras = modules()[1]
            kwargs = {"delta": float(p.get("delta", 1.0))} if loss == "huber" else {}
            cls = getattr(keras.losses, keras_class)
            return cls(reduction="sum_over_batch_size", dtype=x.dtype.name, **kwargs)(y, x)
        if x.shape != y.shape:   # composed: refuse, as optax does, rather than let tf broadcast (4, 1) - (4,)
            raise ValueError(f"input shape {x.shape} and target shape {y.shape} differ")
        return reduce(_regression_terms(loss, x - y, p), r)
    return fn


def _mean_native(case: Case) -> str:
    return "native" if case.reduction == "mean" else "composed"


def _keras_api(cls: str, term: str, args: str = "") -> str:
    return (f"'mean': keras.losses.{cls}({args}reduction='sum_over_batch_size', dtype=<dtype>); "
            f"'none'/'sum': {term} [tf.reduce_sum] (Keras's own 'none' gives per-row means over "
            "the last axis and its 'sum' sums those means: not the elementwise sum)")


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
}
