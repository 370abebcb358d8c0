"""A minimal reproducer for BUG.md: a few lines of Python that build the inputs from
literals and make the one framework call that misbehaves, printing what it returns.

It exists only for a captured framework call (``how == "call"``) whose inputs are small
enough to write out: a composed recipe has no single call to show, and a case of
thousands of elements belongs in inputs.npz. Each framework is a row of ``STYLES``: its
imports, how it writes a tensor literal, and how it prints a value or a gradient, as
the generated script builds and runs them (repro_script). The literals are the values
as the framework got them, written in the dtype's shortest form when that form reads
back exactly, else in float64's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from conformance.vocab.dtypes import numpy_dtype
from conformance.vocab.reproducer import variable

MAX_LINES = 8              # a longer snippet is no longer minimal: BUG.md points to the script
MAX_ELEMENTS = 64          # inputs beyond this many elements in all stay in inputs.npz


@dataclass(frozen=True)
class Style:
    """How one framework's snippet is written: {values}, {dtype}, {call}, {wrt}, {args}."""
    imports: tuple[str, ...]
    floating: str                    # a float tensor of the test dtype
    integer: str                     # an int64 tensor
    value: tuple[str, ...]           # print the call's result
    grad: tuple[str, ...]            # print the gradient of sum(result) w.r.t. {wrt}
    watched: str = ""                # a float tensor whose gradient is asked (torch: requires_grad)


STYLES: dict[str, Style] = {
    "torch": Style(
        imports=("import torch",),
        floating="torch.tensor({values}, dtype=torch.{dtype})",
        watched="torch.tensor({values}, dtype=torch.{dtype}, requires_grad=True)",
        integer="torch.tensor({values})",
        value=("print({call}.tolist())",),
        grad=("{call}.sum().backward()", "print({wrt}.grad.tolist())")),
    "jax": Style(
        imports=("import jax, jax.numpy as jnp, optax", "jax.config.update('jax_enable_x64', True)"),
        floating="jnp.array({values}, dtype=jnp.{dtype})",
        integer="jnp.array({values}, dtype=jnp.int64)",
        value=("print(jax.jit(lambda {args}: {call})({args}).tolist())",),
        grad=("print(jax.jit(jax.grad(lambda {args}: jnp.sum({call})))({args}).tolist())",)),
    "tensorflow": Style(
        imports=("import tensorflow as tf, keras",),
        floating="tf.constant({values}, dtype=tf.{dtype})",
        integer="tf.constant({values}, dtype=tf.int64)",
        value=("print({call}.numpy().tolist())",),
        grad=("with tf.GradientTape() as tape:", "    tape.watch({wrt})", "    loss = tf.reduce_sum({call})",
              "print(tape.gradient(loss, {wrt}).numpy().tolist())")),
}


def _float(v: float, dtype: str) -> str:
    """The shortest text of ``v`` (a value of ``dtype``, held in float64) that reads back to it."""
    if not math.isfinite(v):
        return f"float('{v}')"
    if dtype not in ("float32", "float16"):
        return repr(v)
    kind = numpy_dtype(dtype).type
    short = np.format_float_positional(kind(v), unique=True, trim="0")
    if abs(v) >= 1e16 or (v != 0 and abs(v) < 1e-4):
        short = np.format_float_scientific(kind(v), unique=True, trim="0")
    return short if kind(float(short)) == kind(v) else repr(v)


def literal(a: np.ndarray, dtype: str) -> str:
    """An array as a (nested) list literal of its values."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return repr(a.tolist())

    def walk(x: Any) -> str:
        if isinstance(x, list):
            return "[" + ", ".join(walk(v) for v in x) + "]"
        return _float(float(x), dtype)
    return walk(a.astype(np.float64).tolist())


def snippet(framework: str, call: str, arrays: Mapping[str, np.ndarray], dtype: str,
            grad_of: str | None, used: tuple[str, ...]) -> str | None:
    """The lines, or None where none can be written: an unknown framework, too many
    elements, or more than MAX_LINES lines. ``used`` names the arrays the call reads
    (case arrays by their own names, and arrays the recipe made)."""
    style = STYLES.get(framework)
    if style is None or not call or sum(int(np.asarray(arrays[n]).size) for n in used) > MAX_ELEMENTS:
        return None
    names = sorted(used, key=lambda n: (n != grad_of, n))        # the gradient's argument first (jax.grad)
    lines = list(style.imports)
    for n in names:
        a = np.asarray(arrays[n])
        template = style.integer if a.dtype.kind != "f" else (
            style.watched if n == grad_of and style.watched else style.floating)
        lines.append(f"{variable(n)} = " + template.format(values=literal(a, dtype), dtype=dtype))
    fill = dict(call=call, wrt=variable(grad_of) if grad_of else "", args=", ".join(variable(n) for n in names))
    lines += [line.format(**fill) for line in (style.value if grad_of is None else style.grad)]
    return "\n".join(lines) if len(lines) <= MAX_LINES else None
