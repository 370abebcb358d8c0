"""The floating dtypes the suite knows, and how a value is rounded to one.

bfloat16 comes from ``ml_dtypes`` (a dependency of both JAX and TensorFlow),
so NumPy can hold and round it exactly as the frameworks do.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

DTYPES: dict[str, np.dtype] = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}


class UnknownDtype(ValueError):
    pass


def numpy_dtype(name: str) -> np.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise UnknownDtype(
            f"unknown dtype {name!r}; known dtypes: {', '.join(DTYPES)}") from None


def eps(name: str) -> float:
    """Machine epsilon (spacing of 1.0) of the named dtype."""
    return float(ml_dtypes.finfo(numpy_dtype(name)).eps)


def round_to(array: np.ndarray, name: str) -> np.ndarray:
    """Round a float array to ``name`` and bring it back to float64 exactly.

    Integer arrays (class indices) are returned unchanged: they are not rounded.
    """
    if not np.issubdtype(array.dtype, np.floating):
        return array
    with np.errstate(over="ignore"):  # beyond the dtype's range the rounded value is +-inf
        return np.asarray(array, dtype=numpy_dtype(name)).astype(np.float64)
