"""Shared pieces of the TensorFlow adapter and its recipes: lazy imports with the log noise silenced, the reduction."""
from __future__ import annotations

import functools
import os
from typing import Any, Mapping

from ..native_logs import filtered_stderr

Tensors = Mapping[str, Any]
Params = Mapping[str, Any]


@functools.cache
def modules() -> tuple[Any, Any]:
    """(tensorflow, keras), imported on first use with the log noise silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
