"""How a NumPy-baseline reproducer runs the oracle's formula in the test dtype, as
the adapter does (reports/ writes the script around it)."""
from __future__ import annotations

from typing import Any

from conformance.vocab.reproducer import ScriptWriter, Spec

HELPERS = '''def version():
    return f"numpy {np.__version__}"


def rounded(a):
    """To DTYPE and back to float64, as the numpy adapter hands back its results."""
    if DTYPE == "bfloat16":
        import ml_dtypes
        return np.asarray(a).astype(ml_dtypes.bfloat16).astype(np.float64)
    return np.asarray(a).astype(DTYPE).astype(np.float64)'''


class NumpyWriter(ScriptWriter):
    framework = "numpy"
    requires = "nothing else"
    helpers = HELPERS
    reserved = {"ml_dtypes": "ml_dtypes", "COMPUTE": None, "rounded": None}

    def inlined(self, adapter: Any, loss: str) -> Any:
        """The formula itself (its recipe only calls it)."""
        return adapter.formulas[loss]

    def recipe_body(self, spec: Spec) -> str:
        grad = spec.grad_of
        out = "ev.value" if grad is None else f"ev.grads[{grad!r}][0]"
        body = ['COMPUTE = "float32" if DTYPE == "bfloat16" else DTYPE   # bfloat16 in float32, rounded at the end',
                "", "", "def compute(arrays):",
                '    cast = {n: arrays[n].astype(COMPUTE) if arrays[n].dtype.kind == "f" else arrays[n] for n in NAMES}',
                '    with np.errstate(all="ignore"):']
        if "sample_weight" not in spec.arrays:
            body += ["        ev = recipe(**cast, reduction=REDUCTION, **PARAMS)", f"    return rounded({out})"]
            return "\n".join(spec.recipe_head() + body)
        # the sample weights, as the oracle weighs the formula's terms (reference/sample_weights.py)
        body += ['        w = cast.pop("sample_weight")',
                 '        ev = recipe(**cast, reduction="none", **PARAMS)',
                 "        weighted = np.where(w == 0, 0, w * ev.value)",
                 '        per = {"none": 1, "sum": 1, "mean": w.size, "weighted_mean": w.sum()}[REDUCTION]']
        if grad is None:
            body += ['        value = weighted if REDUCTION == "none" else weighted.sum() / per',
                     "    return rounded(value)"]
        else:
            body += [f"        g = ev.grads[{grad!r}][0]",
                     "        ww = w.reshape(w.shape + (1,) * (g.ndim - w.ndim)) if g.shape[:w.ndim] == w.shape "
                     "else np.expand_dims(w, 1)",
                     "        value = np.where(ww == 0, 0, ww * g) / per",
                     "    return rounded(value)"]
        return "\n".join(spec.recipe_head() + body)


WRITER = NumpyWriter()
