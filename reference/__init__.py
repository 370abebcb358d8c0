"""The float64 oracle. Pure NumPy: it never imports a framework.

``evaluate`` is the single entry point: it casts every float array to float64
and calls the loss's formula with the case's parameters and (optionally) a
framework's documented policies.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

import numpy as np

from conformance.vocab import catalog

from . import sample_weights
from ._common import DomainError, Evaluation

#: every loss's formula: each family of the catalog is a module (or a package) here
#: that exports FUNCTIONS, name -> formula.
FUNCTIONS: dict[str, Callable[..., Evaluation]] = {}
for _family in catalog.families():
    _functions = importlib.import_module(f"{__name__}.{_family}").FUNCTIONS
    if set(_functions) & set(FUNCTIONS):
        raise ImportError(f"reference.{_family} redefines {sorted(set(_functions) & set(FUNCTIONS))}")
    FUNCTIONS.update(_functions)
_missing = set(catalog.catalog()) - set(FUNCTIONS)
if _missing:
    raise ImportError(f"reference: no formula for {sorted(_missing)}")

__all__ = ["DomainError", "Evaluation", "FUNCTIONS", "evaluate", "call"]


def call(loss: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
         reduction: str, policies: Mapping[str, Any] | None = None) -> Evaluation:
    """Call the formula on arrays as given (any float dtype: the numpy adapter uses this);
    a ``sample_weight`` array weighs the formula's terms (reference/sample_weights.py)."""
    fn = FUNCTIONS[loss]
    if sample_weights.ARGUMENT in arrays:
        return sample_weights.evaluate(fn, arrays, params, reduction, policies or {}, catalog.get(loss).layout)
    return fn(**arrays, reduction=reduction, **dict(params), **dict(policies or {}))


def evaluate(loss: str, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
             reduction: str, policies: Mapping[str, Any] | None = None) -> Evaluation:
    """The oracle: the formula in float64 on exactly the values given."""
    as64 = {k: (v.astype(np.float64) if np.issubdtype(v.dtype, np.floating) else v)
            for k, v in arrays.items()}
    return call(loss, as64, params, reduction, policies)
