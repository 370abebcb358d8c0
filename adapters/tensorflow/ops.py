"""Shared pieces of the TensorFlow adapter and its recipes: lazy imports with the log noise silenced, the reduction."""
from __future__ import annotations

import functools
import os
from typing import Any, Mapping

from conformance.vocab.catalog import WEIGHTED_MEAN, plain_reduction

from ..native_logs import filtered_stderr, quiet_tensorflow

Tensors = Mapping[str, Any]
Params = Mapping[str, Any]


@functools.cache
def modules() -> tuple[Any, Any]:
    """(tensorflow, keras), imported on first use with the log noise silenced."""
    quiet_tensorflow()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with filtered_stderr():
        import keras
        import tensorflow as tf
    # A loss traced for many shapes (the graph and compiled modes) is what the suite
    # means to do: tf.function's advice to avoid retracing is not for it.
    tf.get_logger().addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())
    return tf, keras


def tf() -> Any:
    return modules()[0]


def reduce(terms: Any, reduction: str, denominator: Any = None) -> Any:
    """'none': the terms; 'sum': their total; 'mean': total / denominator (default: count);
    'batchmean' (torch.nn.KLDivLoss): total / the size of the first axis."""
    tf_ = tf()
    if reduction == "none":
        return terms
    if reduction not in ("sum", "mean", "batchmean"):
        raise ValueError(f"reduction must be 'none', 'sum', 'mean' or 'batchmean', got {reduction!r}")
    if reduction == "sum":
        return tf_.reduce_sum(terms)
    if reduction == "batchmean":
        return tf_.reduce_sum(terms) / (terms.shape[0] if terms.shape.rank else 1)
    if denominator is None:
        return tf_.reduce_mean(terms)  # empty: 0/0 = NaN
    return tf_.reduce_sum(terms) / denominator


def refuse_if(bad: Any, message: str) -> None:
    """Refuse the input where ``bad`` holds anywhere: eagerly a ValueError; inside a
    tf.function a ``tf.debugging.Assert`` (run by automatic control dependencies, an
    InvalidArgumentError at run time), the check a user composing the loss in a graph
    would write. XLA (jit_compile=True) drops Assert ops: there the check is gone
    (finding tf-xla-drops-debugging-asserts)."""
    tf_ = tf()
    if tf_.executing_eagerly():
        if bool(tf_.reduce_any(bad)):
            raise ValueError(message)
        return
    tf_.debugging.Assert(tf_.logical_not(tf_.reduce_any(bad)), [message])


def weighted(terms: Any, weights: Any, reduction: str) -> Any:
    """Sample-weighted terms reduced (reference/sample_weights.py): 'none' w * l, 'sum',
    'mean' (over the number of terms), 'weighted_mean' (over the weights' sum); a weight
    of 0 leaves its term out, with a zero derivative for the term there."""
    tf_ = tf()
    plain = plain_reduction(reduction)
    if tuple(weights.shape) != tuple(terms.shape):
        raise ValueError(f"sample_weight has shape {tuple(weights.shape)}; the terms have shape {tuple(terms.shape)}")
    refuse_if(weights < 0, "sample weights must be >= 0")
    weights = tf_.cast(weights, terms.dtype)        # a recipe may compute a half-precision loss in float32
    return reduce(_times(weights, terms), plain, tf_.reduce_sum(weights) if reduction == WEIGHTED_MEAN else None)


def _times(coef: Any, values: Any) -> Any:
    """coef * values, 0 where coef = 0 (0 * inf = 0), d/dvalues = coef (0 there)."""
    tf_ = tf()

    @tf_.custom_gradient
    def product(c: Any, v: Any) -> Any:
        zero = c == 0
        out = tf_.where(zero, tf_.zeros_like(v), c * v)

        def grad(g: Any) -> Any:
            return g * v, tf_.where(zero, tf_.zeros_like(g), g * c)
        return out, grad
    return product(coef, values)
