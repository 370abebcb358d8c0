"""The float64 oracle. Pure NumPy: it never imports a framework.

``evaluate`` is the single entry point: it casts every float array to float64
and calls the loss's formula with the case's parameters and (optionally) a
framework's documented policies.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

import numpy as np

from ._common import DomainError, Evaluation
from .binary import bce, bce_with_logits
from .classification import cross_entropy, nll
from .regression import huber, l1, mse, smooth_l1

#: One module per loss family beyond the documents' losses; each exports FUNCTIONS.
FAMILY_MODULES = ("divergence", "margin", "hinge", "embedding", "keras_regression",
                  "focal", "sparse", "ranking", "ctc")

FUNCTIONS: dict[str, Callable[..., Evaluation]] = {
    "l1": l1, "mse": mse, "smooth_l1": smooth_l1, "huber": huber,
    "bce": bce, "bce_with_logits": bce_with_logits,
    "cross_entropy": cross_entropy, "nll": nll,
}
for _family in FAMILY_MODULES:
    _functions = importlib.import_module(f"{__name__}.{_family}").FUNCTIONS
    if set(_functions) & set(FUNCTIONS):
        raise ImportError(f"reference.{_family} redefines {sorted(set(_functions) & set(FUNCTIONS))}")
    FUNCTIONS.update(_functions)

__all__ = ["DomainError", "Evaluation", "FUNCTIONS", "evaluate", "call"]


def call(loss: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
         reduction: str, policies: Mapping[str, Any] | None = None) -> Evaluation:
    """Call the formula on arrays as given (any float dtype: the numpy adapter uses this)."""
    fn = FUNCTIONS[loss]
    return fn(**arrays, reduction=reduction, **dict(params), **dict(policies or {}))


def evaluate(loss: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
             reduction: str, policies: Mapping[str, Any] | None = None) -> Evaluation:
    """The oracle: the formula in float64 on exactly the values given."""
    as64 = {k: (v.astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v)
            for k, v in arrays.items()}
    return call(loss, as64, params, reduction, policies)
