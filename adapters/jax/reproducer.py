"""How a JAX reproducer builds its arrays and makes the call, jitted as the adapter
runs it (reports/ writes the script around it)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from conformance.vocab.reproducer import ScriptWriter, Spec, py, variable

from .adapter import split_params

SETUP = '''import jax
import jax.numpy as jnp
import optax

jax.config.update("jax_enable_x64", True)     # as the suite runs JAX: float64 and int64 arrays exist
jax.config.update("jax_default_matmul_precision", "highest")'''

HELPERS = '''def version():
    return f"jax {jax.__version__} / optax {optax.__version__}"


def array(values, dtype):
    """As the suite builds it: cast to the dtype (exact: the values are already rounded
    to it), on DEVICE."""
    return jax.device_put(values.astype(jnp.dtype(dtype)), jax.devices("gpu" if DEVICE == "cuda" else DEVICE)[0])


def result(a):
    return np.asarray(a).astype(np.float64)'''


class JaxWriter(ScriptWriter):
    framework = "jax"
    requires = "JAX and optax"
    setup = SETUP
    helpers = HELPERS
    tails = {"sum": "jnp.sum(loss)", "mean": "jnp.mean(loss)",
             "batchmean": "jnp.sum(loss) / (loss.shape[0] if loss.ndim else 1)"}
    prefixes = {"optax": "optax", "jax": "jax"}
    doc_hosts = ("optax", "jax")
    reserved = {"jax": "jax", "jnp": "jax.numpy", "optax": "optax"}

    def tensors(self, arrays: Mapping[str, np.ndarray], dtype: str, device: str, wrt: tuple[str, ...]) -> dict:
        import jax
        import jax.numpy as jnp
        dev = jax.devices("gpu" if device == "cuda" else device)[0]
        return {name: jax.device_put(a.astype(jnp.dtype(dtype) if np.issubdtype(a.dtype, np.floating)
                                              else np.int64), dev) for name, a in arrays.items()}

    def is_tensor(self, x: Any) -> bool:
        import jax
        return isinstance(x, jax.Array)

    def dtype_name(self, x: Any) -> str:
        return x.dtype.name

    def numpy(self, x: Any) -> np.ndarray:
        a = np.asarray(x)
        return a if a.dtype.kind in "biu" else a.astype(np.float64)

    def tail(self, x: Any, kind: str) -> Any:
        import jax.numpy as jnp
        return jnp.sum(x) if kind == "sum" else jnp.mean(x) if kind == "mean" else jnp.sum(x) / (
            x.shape[0] if x.ndim else 1)

    def literal(self, value: Any) -> str | None:
        return f"jnp.{value.name}" if isinstance(value, np.dtype) else None

    def split_params(self, recipe: Any, arrays: Mapping[str, np.ndarray],
                     params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return split_params(recipe, arrays, params)

    def call_body(self, spec: Spec) -> str:
        call, grad = spec.call, spec.grad_of
        names = [variable(n) for n in sorted(call.direct)] + list(call.extras)
        lines = [f"def loss_fn({', '.join(names)}):", f"    loss = {call.text()}", *self.tail_lines(spec, "    "),
                 "    return loss", "", "", "def compute(arrays):", *self.declarations(spec, "    ", "array"),
                 f"    args = ({', '.join(names)}{',' if len(names) == 1 else ''})"]
        if grad is None:
            lines.append("    return result(jax.jit(loss_fn)(*args))")
        else:
            lines.append(f"    grad = jax.jit(jax.grad(lambda *a: jnp.sum(loss_fn(*a)), "
                         f"argnums={names.index(variable(grad))}))(*args)")
            lines.append("    return result(grad)")
        return "\n".join(lines)

    def recipe_body(self, spec: Spec) -> str:
        grad = spec.grad_of
        body = [f"STATIC = {py(dict(spec.static))}   # compiled in, as the suite's jit does", "", "",
                "def total(diff, const, params):",
                "    out = recipe({**const, **diff}, {**params, **STATIC}, REDUCTION)",
                "    return jnp.sum(out), out", "", "", "def compute(arrays):", "    diff, const = {}, {}",
                "    for n in NAMES:", '        floating = arrays[n].dtype.kind == "f"',
                '        (diff if floating and n in WRT else const)[n] = array(arrays[n], DTYPE if floating else "int64")',
                "    (_, value), grads = jax.jit(jax.value_and_grad(total, has_aux=True))(diff, const, PARAMS)",
                "    return result(value)" if grad is None else f"    return result(grads[{grad!r}])"]
        return "\n".join(spec.recipe_head() + body)


WRITER = JaxWriter()
