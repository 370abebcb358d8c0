"""NumPy: the oracle's own formulas run in the test dtype.

This is the baseline, not a framework under test: what a plain, careful
implementation achieves in float32/float16/bfloat16 (bfloat16 via ml_dtypes).
In float64 it is the oracle itself and agrees by construction.

bfloat16: ml_dtypes promotes bfloat16 with a Python float to float32, so a
formula cannot stay in bfloat16 throughout. The adapter therefore computes
bfloat16 cases in float32 ("opmath", as the frameworks' CPU kernels do) and
rounds the value and gradients to bfloat16. float16 stays native float16.

The formulas are given, not imported: the suite's wiring (conformance.frameworks)
hands this adapter the oracle's (reference.FUNCTIONS), so that adapters/ never
imports the reference.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from conformance.vocab import catalog
from conformance.vocab.catalog import SAMPLE_WEIGHT
from conformance.vocab.dtypes import numpy_dtype

from ..base import FrameworkAdapter, Output, Recipe


def _recipe(name: str, formula: Callable[..., Any], weighted: Callable[..., Any] | None) -> Recipe:
    def fn(a: Mapping[str, Any], p: Mapping[str, Any], r: str) -> Any:
        if SAMPLE_WEIGHT in a and weighted is not None:    # the oracle's weighing, in the test dtype
            return weighted(formula, a, p, r, {}, catalog.get(name).layout)
        return formula(**a, reduction=r, **dict(p))
    return Recipe(fn, f"reference.{name} in the test dtype", kind="composed", sample_weights=weighted is not None)


class NumpyAdapter(FrameworkAdapter):
    name = "numpy"
    modes_lacking = {**{m: "NumPy runs every operation as it is called: it has no graph or compiled mode"
                        for m in ("graph", "compiled")},
                     "module": "the NumPy baseline is the oracle's formulas: it has no class surface",
                     "keras": "Keras's loss classes are TensorFlow's surface",
                     "autocast": "NumPy has no autocast: a computation runs in its arrays' dtypes",
                     "forward": "NumPy has no automatic differentiation: its gradients are the formulas'"}

    def __init__(self, formulas: Mapping[str, Callable[..., Any]], weighted: Callable[..., Any] | None = None) -> None:
        """``formulas``: loss name -> the reference formula (it returns an Evaluation);
        ``weighted``: how the reference weighs a formula's terms by sample weights."""
        self.formulas = dict(formulas)
        self.recipes = {name: _recipe(name, fn, weighted) for name, fn in formulas.items()}

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

