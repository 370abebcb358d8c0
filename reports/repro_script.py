"""The text of a reproducer script: the shared template (templates/reproducer.py.tmpl:
loading inputs.npz, the suite's judging rule, the verdict) around a per-framework
body that builds the tensors as the adapter does and makes the call, either the one
framework call captured from a native recipe (repro_capture) or the recipe's own
inlined source (repro_inline)."""
from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .repro_capture import Call, variable

TEMPLATE = Path(__file__).with_name("templates") / "reproducer.py.tmpl"
BACKSLASH, TRIPLE = chr(92), chr(34) * 3
REQUIRES = {"torch": "PyTorch", "jax": "JAX and optax", "tensorflow": "TensorFlow and Keras",
            "numpy": "nothing else"}
#: Names the template and the bodies define (module names for imports): inlined recipe
#: code that binds one of them to something else has it renamed (repro_inline.inline).
RESERVED: dict[str, str | None] = {
    "sys": "sys", "np": "numpy", "os": "os", "torch": "torch", "jax": "jax", "jnp": "jax.numpy", "optax": "optax",
    "tf": "tensorflow", "keras": "keras", "ml_dtypes": "ml_dtypes",
    **dict.fromkeys(("Path", "FRAMEWORK", "DTYPE", "DEVICE", "CHECK", "OUTCOME", "EXPECT", "ORACLE_REFUSES", "K",
                     "EPS", "TINY", "INPUTS", "CALL", "NAMES", "PARAMS", "STATIC", "REDUCTION", "WRT", "PLACE",
                     "COMPUTE", "version", "tensor", "array", "result", "compute", "loss_fn", "total", "judge",
                     "show", "main", "_index", "_expected", "rounded")),
}

SETUP = {
    "torch": "import torch",
    "jax": '''import jax
import jax.numpy as jnp
import optax

jax.config.update("jax_enable_x64", True)     # as the suite runs JAX: float64 and int64 arrays exist
jax.config.update("jax_default_matmul_precision", "highest")''',
    "tensorflow": '''import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402''',
    "numpy": "",
}

HELPERS = {
    "torch": '''def version():
    return f"torch {torch.__version__}"


def tensor(values, dtype, requires_grad=False):
    """As the suite builds it: floats through float64 to the dtype (exact: the values are
    already rounded to it), integers as they are; on DEVICE."""
    if values.dtype.kind == "f":
        t = torch.tensor(values, dtype=torch.float64, device=DEVICE).to(getattr(torch, dtype))
        return t.requires_grad_(requires_grad)
    return torch.tensor(values, dtype=getattr(torch, dtype), device=DEVICE)


def result(t):
    return t.detach().to(torch.float64).cpu().numpy()''',
    "jax": '''def version():
    return f"jax {jax.__version__} / optax {optax.__version__}"


def array(values, dtype):
    """As the suite builds it: cast to the dtype (exact: the values are already rounded
    to it), on DEVICE."""
    return jax.device_put(values.astype(jnp.dtype(dtype)), jax.devices("gpu" if DEVICE == "cuda" else DEVICE)[0])


def result(a):
    return np.asarray(a).astype(np.float64)''',
    "tensorflow": '''PLACE = "/GPU:0" if DEVICE == "cuda" else "/CPU:0"


def version():
    return f"tensorflow {tf.__version__} / keras {keras.__version__}"


def tensor(values, dtype):
    """As the suite builds it: floats through float64 to the dtype (exact: the values are
    already rounded to it), integers as they are."""
    if values.dtype.kind == "f":
        return tf.cast(tf.constant(values, tf.float64), getattr(tf, dtype))
    return tf.constant(values, getattr(tf, dtype))


def result(t):
    return tf.cast(tf.convert_to_tensor(t), tf.float64).numpy()''',
    "numpy": '''def version():
    return f"numpy {np.__version__}"


def rounded(a):
    """To DTYPE and back to float64, as the numpy adapter hands back its results."""
    if DTYPE == "bfloat16":
        import ml_dtypes
        return np.asarray(a).astype(ml_dtypes.bfloat16).astype(np.float64)
    return np.asarray(a).astype(DTYPE).astype(np.float64)''',
}

TAILS = {
    "torch": {"sum": "loss.sum()", "mean": "loss.mean()",
              "batchmean": "loss.sum() / (loss.shape[0] if loss.dim() else 1)"},
    "jax": {"sum": "jnp.sum(loss)", "mean": "jnp.mean(loss)",
            "batchmean": "jnp.sum(loss) / (loss.shape[0] if loss.ndim else 1)"},
    "tensorflow": {"sum": "tf.reduce_sum(loss)", "mean": "tf.reduce_mean(loss)",
                   "batchmean": "tf.reduce_sum(loss) / (loss.shape[0] if loss.shape.rank else 1)"},
}


@dataclass
class Spec:
    """Everything a script states: the record's coordinates and how to make the call."""
    framework: str
    dtype: str
    device: str
    check: str
    outcome: str
    expect: str                      # numbers | returns | raises
    k: float
    eps: float
    tiny: float
    title: str
    results: str
    script: str                      # file name
    arrays: Mapping[str, Any]        # case arrays as the framework got them (float64 / int64)
    wrt: tuple[str, ...]
    params: Mapping[str, Any]
    reduction: str
    refuses: str = ""
    call: Call | None = None
    recipe_source: str = ""          # inlined recipe defining `recipe`, when there is no call
    static: Mapping[str, Any] = field(default_factory=dict)    # JAX: parameters compiled in

    @property
    def grad_of(self) -> str | None:
        return self.check.split(":", 1)[1] if self.check.startswith("grad:") else None


def py(value: Any) -> str:
    """repr, with non-finite floats written so that they evaluate."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(py(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _kind(spec: Spec, name: str) -> str:
    """The dtype a case array is built in: the test dtype for floats, int64 otherwise."""
    return "DTYPE" if spec.arrays[name].dtype.kind == "f" else '"int64"'


def _declarations(spec: Spec, indent: str) -> list[str]:
    """One line per tensor the captured call uses: case arrays, then extras."""
    call, lines = spec.call, []
    builder = "array" if spec.framework == "jax" else "tensor"
    for name in sorted(call.direct):
        grad = (spec.framework == "torch" and name in spec.wrt and spec.arrays[name].dtype.kind == "f")
        lines.append(f'{variable(name)} = {builder}(arrays[{name!r}], {_kind(spec, name)}'
                     + (", requires_grad=True)" if grad else ")"))
    for name, (_, dtype) in call.extras.items():
        lines.append(f'{name} = {builder}(arrays[{name!r}], {dtype!r})   # made by the suite\'s recipe')
    return [indent + line for line in lines]


def _tail(spec: Spec, indent: str) -> list[str]:
    if not spec.call.tail:
        return []
    return [f"{indent}loss = {TAILS[spec.framework][spec.call.tail]}   # the suite's reduction"]


def _call_body(spec: Spec) -> str:
    """compute() around the captured call."""
    fw, call, wrt_here = spec.framework, spec.call, [n for n in sorted(spec.call.direct) if n in spec.wrt
                                                     and spec.arrays[n].dtype.kind == "f"]
    grad = spec.grad_of
    if fw == "torch":
        lines = ["def compute(arrays):", *_declarations(spec, "    "), f"    loss = {call.text()}", *_tail(spec, "    ")]
        if grad is None:
            lines.append("    return result(loss)")
        else:
            v = variable(grad)
            lines += [f"    (grad,) = torch.autograd.grad(loss.sum(), [{v}], allow_unused=True)",
                      f"    return np.zeros({v}.shape) if grad is None else result(grad)"]
        return "\n".join(lines)
    if fw == "jax":
        names = [variable(n) for n in sorted(call.direct)] + list(call.extras)
        lines = [f"def loss_fn({', '.join(names)}):", f"    loss = {call.text()}", *_tail(spec, "    "),
                 "    return loss", "", "", "def compute(arrays):", *_declarations(spec, "    "),
                 f"    args = ({', '.join(names)}{',' if len(names) == 1 else ''})"]
        if grad is None:
            lines.append("    return result(jax.jit(loss_fn)(*args))")
        else:
            lines.append(f"    grad = jax.jit(jax.grad(lambda *a: jnp.sum(loss_fn(*a)), "
                         f"argnums={names.index(variable(grad))}))(*args)")
            lines.append("    return result(grad)")
        return "\n".join(lines)
    lines = ["def compute(arrays):", "    with tf.device(PLACE):", *_declarations(spec, "        "),
             "        with tf.GradientTape() as tape:", *[f"            tape.watch({variable(n)})" for n in wrt_here],
             f"            loss = {call.text()}", *_tail(spec, "            "),
             "            total = tf.reduce_sum(loss)"]
    if grad is None:
        lines.append("        return result(loss)")
    else:
        v = variable(grad)
        lines += [f"        grad = tape.gradient(total, {v})",
                  f"        return np.zeros({v}.shape) if grad is None else result(grad)"]
    return "\n".join(lines)


def _recipe_body(spec: Spec) -> str:
    """compute() around the inlined recipe, as the adapter runs it."""
    fw, grad = spec.framework, spec.grad_of
    head = [spec.recipe_source.rstrip(), "", "",
            f"NAMES = {py(tuple(spec.arrays))}", f"PARAMS = {py(dict(spec.params))}",
            f"REDUCTION = {spec.reduction!r}", f"WRT = {py(tuple(spec.wrt))}"]
    if fw == "numpy":
        out = "ev.value" if grad is None else f"ev.grads[{grad!r}][0]"
        body = ['COMPUTE = "float32" if DTYPE == "bfloat16" else DTYPE   # bfloat16 in float32, rounded at the end',
                "", "", "def compute(arrays):",
                '    cast = {n: arrays[n].astype(COMPUTE) if arrays[n].dtype.kind == "f" else arrays[n] for n in NAMES}',
                '    with np.errstate(all="ignore"):',
                "        ev = recipe(**cast, reduction=REDUCTION, **PARAMS)",
                f"    return rounded({out})"]
    elif fw == "torch":
        body = ["", "", "def compute(arrays):",
                '    a = {n: tensor(arrays[n], DTYPE if arrays[n].dtype.kind == "f" else "int64", '
                "requires_grad=n in WRT) for n in NAMES}",
                "    loss = recipe(a, dict(PARAMS), REDUCTION)"]
        body += ["    return result(loss)"] if grad is None else [
            f"    (grad,) = torch.autograd.grad(loss.sum(), [a[{grad!r}]], allow_unused=True)",
            f"    return np.zeros(a[{grad!r}].shape) if grad is None else result(grad)"]
    elif fw == "jax":
        body = [f"STATIC = {py(dict(spec.static))}   # compiled in, as the suite's jit does", "", "",
                "def total(diff, const, params):",
                "    out = recipe({**const, **diff}, {**params, **STATIC}, REDUCTION)",
                "    return jnp.sum(out), out", "", "", "def compute(arrays):", "    diff, const = {}, {}",
                "    for n in NAMES:", '        floating = arrays[n].dtype.kind == "f"',
                '        (diff if floating and n in WRT else const)[n] = array(arrays[n], DTYPE if floating else "int64")',
                "    (_, value), grads = jax.jit(jax.value_and_grad(total, has_aux=True))(diff, const, PARAMS)",
                "    return result(value)" if grad is None else f"    return result(grads[{grad!r}])"]
    else:
        body = ["", "", "def compute(arrays):", "    with tf.device(PLACE):",
                '        a = {n: tensor(arrays[n], DTYPE if arrays[n].dtype.kind == "f" else "int64") for n in NAMES}',
                "        with tf.GradientTape() as tape:",
                "            for n in WRT:", "                tape.watch(a[n])",
                "            loss = recipe(a, dict(PARAMS), REDUCTION)", "            total = tf.reduce_sum(loss)"]
        body += ["        return result(loss)"] if grad is None else [
            f"        grad = tape.gradient(total, a[{grad!r}])",
            f"        return np.zeros(a[{grad!r}].shape) if grad is None else result(grad)"]
    return "\n".join(head + body)


def call_text(spec: Spec) -> str:
    """The call as one line for the report: the framework call, or the recipe."""
    if spec.call is not None:
        text = spec.call.text()
        return TAILS[spec.framework][spec.call.tail].replace("loss", text, 1) if spec.call.tail else text
    return f"recipe(arrays, {py(dict(spec.params))}, {spec.reduction!r})   # the suite's recipe, inlined"


def render(spec: Spec) -> str:
    """The whole script."""
    body = HELPERS[spec.framework] + "\n\n\n" + (_call_body(spec) if spec.call is not None else _recipe_body(spec))
    quantity = "the value" if spec.grad_of is None else f"the gradient of sum(loss) w.r.t. {spec.grad_of}"
    def safe(text: str) -> str:       # inside the docstring
        return text.replace(BACKSLASH, "/").replace(TRIPLE, "'" * 3)
    fields = {
        "title": safe(spec.title), "results": safe(spec.results), "requires": REQUIRES[spec.framework],
        "script": spec.script, "framework": spec.framework, "dtype": spec.dtype, "quantity": quantity,
        "outcome": spec.outcome, "setup": ("\n" + SETUP[spec.framework]) if SETUP[spec.framework] else "",
        "framework_repr": repr(spec.framework), "dtype_repr": repr(spec.dtype), "device_repr": repr(spec.device),
        "check_repr": repr(spec.check), "outcome_repr": repr(spec.outcome), "expect_repr": repr(spec.expect),
        "refuses_repr": repr(spec.refuses), "k": repr(spec.k), "eps": repr(spec.eps), "tiny": repr(spec.tiny),
        "call_repr": repr(call_text(spec)), "body": body,
    }
    return string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(fields)
