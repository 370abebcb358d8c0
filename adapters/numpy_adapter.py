"""NumPy: the oracle's own formulas run in the test dtype.

This is the baseline, not a framework under test: what a plain, careful
implementation achieves in float32/float16/bfloat16 (bfloat16 via ml_dtypes).
In float64 it is the oracle itself and agrees by construction.

bfloat16: ml_dtypes promotes bfloat16 with a Python float to float32, so a
formula cannot stay in bfloat16 throughout. The adapter therefore computes
bfloat16 cases in float32 ("opmath", as the frameworks' CPU kernels do) and
rounds the value and gradients to bfloat16. float16 stays native float16.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import reference
from conformance.dtypes import numpy_dtype

from .base import FrameworkAdapter, Output, Recipe

def _recipe(name: str) -> Recipe:
    return Recipe(lambda a, p, r: reference.call(name, a, p, r),
                  f"reference.{name} in the test dtype", kind="composed")


RECIPES = {name: _recipe(name) for name in reference.FUNCTIONS}


class NumpyAdapter(FrameworkAdapter):
    name = "numpy"
    recipes = RECIPES

    def _import(self) -> Any:
        return np

    def version(self) -> str:
        return np.__version__

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Output:
        dt = numpy_dtype("float32" if dtype == "bfloat16" else dtype)
        cast = {k: (v.astype(dt) if np.issubdtype(v.dtype, np.floating) else v) for k, v in arrays.items()}
        with np.errstate(all="ignore"):
            ev = recipe.fn(cast, params, reduction)
        out = numpy_dtype(dtype)

        def back(a) -> np.ndarray:
            return np.asarray(a).astype(out).astype(np.float64)
        return Output(back(ev.value), {n: back(ev.grads[n][0]) for n in wrt if n in ev.grads})

