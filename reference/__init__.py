"""The float64 oracle. Pure NumPy: it never imports a framework.

``evaluate`` is the single entry point: it casts every float array to float64
and calls the loss's formula with the case's parameters and (optionally) a
framework's documented policies.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ._common import DomainError, Evaluation
from .binary import bce, bce_with_logits
from .classification import cross_entropy, nll
from .regression import huber, l1, mse, smooth_l1

FUNCTIONS: dict[str, Callable[..., Evaluation]] = {
    "l1": l1, "mse": mse, "smooth_l1": smooth_l1, "huber": huber,
    "bce": bce, "bce_with_logits": bce_with_logits,
    "cross_entropy": cross_entropy, "nll": nll,
}

__all__ = ["DomainError", "Evaluation", "FUNCTIONS", "evaluate", "call"]


def call(loss: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
         reduction: str, policies: Mapping[str, Any] | None = None) -> Evaluation:
    """Call the formula on arrays as given (any float dtype: the numpy adapter uses this)."""
    fn = FUNCTIONS[loss]
    kwargs = {k: v for k, v in arrays.items() if k not in ("input", "target")}
    return fn(arrays["input"], arrays["target"], reduction=reduction,
              **kwargs, **dict(params), **dict(policies or {}))


def evaluate(loss: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
             reduction: str, policies: Mapping[str, Any] | None = None) -> Evaluation:
    """The oracle: the formula in float64 on exactly the values given."""
    as64 = {k: (v.astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v)
            for k, v in arrays.items()}
    return call(loss, as64, params, reduction, policies)
