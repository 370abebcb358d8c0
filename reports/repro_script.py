"""The text of a reproducer script: the shared template (templates/reproducer.py.tmpl:
loading inputs.npz, the suite's judging rule, the verdict) around a body that the
framework's writer (adapters/<framework>/reproducer.py) makes: it builds the tensors
as the adapter does and makes the call, either the one framework call captured from
a native recipe (repro_capture) or the recipe's own inlined source (repro_inline)."""
from __future__ import annotations

import string
from pathlib import Path

from conformance.vocab.reproducer import ScriptWriter, Spec, py

TEMPLATE = Path(__file__).with_name("templates") / "reproducer.py.tmpl"
BACKSLASH, TRIPLE = chr(92), chr(34) * 3
#: Names the template defines: inlined recipe code that binds one of them to
#: something else has it renamed (repro_inline.inline), as it has the names the
#: framework's setup and helpers bind (ScriptWriter.reserved).
TEMPLATE_NAMES: dict[str, str | None] = {
    "sys": "sys", "np": "numpy",
    **dict.fromkeys(("Path", "FRAMEWORK", "DTYPE", "DEVICE", "CHECK", "OUTCOME", "EXPECT", "ORACLE_REFUSES", "K",
                     "EPS", "TINY", "INPUTS", "CALL", "NAMES", "PARAMS", "STATIC", "REDUCTION", "WRT",
                     "version", "tensor", "array", "result", "compute", "loss_fn", "total", "judge",
                     "show", "main", "_index", "_expected")),
}


def reserved(writer: ScriptWriter) -> dict[str, str | None]:
    """Every name a script of this framework binds outside the inlined recipe."""
    return {**TEMPLATE_NAMES, **writer.reserved}


def call_text(spec: Spec, writer: ScriptWriter) -> str:
    """The call as one line for the report: the framework call, or the recipe."""
    if spec.call is not None:
        text = spec.call.text()
        return writer.tails[spec.call.tail].replace("loss", text, 1) if spec.call.tail else text
    return f"recipe(arrays, {py(dict(spec.params))}, {spec.reduction!r})   # the suite's recipe, inlined"


def render(spec: Spec, writer: ScriptWriter) -> str:
    """The whole script."""
    compute = writer.call_body(spec) if spec.call is not None else writer.recipe_body(spec)
    body = writer.helpers + "\n\n\n" + compute
    quantity = "the value" if spec.grad_of is None else f"the gradient of sum(loss) w.r.t. {spec.grad_of}"
    def safe(text: str) -> str:       # inside the docstring
        return text.replace(BACKSLASH, "/").replace(TRIPLE, "'" * 3)
    fields = {
        "title": safe(spec.title), "results": safe(spec.results), "requires": writer.requires,
        "script": spec.script, "framework": spec.framework, "dtype": spec.dtype, "quantity": quantity,
        "outcome": spec.outcome, "setup": ("\n" + writer.setup) if writer.setup else "",
        "framework_repr": repr(spec.framework), "dtype_repr": repr(spec.dtype), "device_repr": repr(spec.device),
        "check_repr": repr(spec.check), "outcome_repr": repr(spec.outcome), "expect_repr": repr(spec.expect),
        "refuses_repr": repr(spec.refuses), "k": repr(spec.k), "eps": repr(spec.eps), "tiny": repr(spec.tiny),
        "call_repr": repr(call_text(spec, writer)), "body": body,
    }
    return string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(fields)
