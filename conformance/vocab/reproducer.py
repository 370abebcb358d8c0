"""What a reproducer script is made of, shared by reports/ (which writes the script
around it) and each framework's writer (adapters/<framework>/reproducer.py, which
knows how that framework builds tensors and makes the call).

``Call`` is one framework call captured from a native recipe; ``Spec`` is everything
a script states; ``ScriptWriter`` is what a framework's folder provides.
"""
from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


class CaptureError(Exception):
    """The recipe's call cannot be written as one framework call (the reason)."""


#: Names the scripts' compute() uses itself: a case array is never called so.
SCRIPT_NAMES = frozenset({"loss", "args", "grad", "arrays", "tape", "total", "a", "n", "np", "torch", "jax", "jnp",
                          "optax", "tf", "keras", "result", "tensor", "array", "loss_fn"})


def variable(name: str) -> str:
    """A case array's name as a Python variable."""
    ok = name.isidentifier() and not keyword.iskeyword(name) and name not in SCRIPT_NAMES
    return name if ok else "arg_" + re.sub(r"\W", "_", name)


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


@dataclass
class Call:
    api: str                                    # dotted name, as the script writes it
    args: list[str]                             # expressions
    kwargs: dict[str, str]
    ctor: tuple[list[str], dict[str, str]] | None = None    # a class: its constructor's arguments
    tail: str = ""                              # "", "sum", "mean" or "batchmean"
    direct: set[str] = field(default_factory=set)            # case arrays passed as they are
    extras: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)   # name -> (values, dtype)

    @staticmethod
    def _arguments(args: list[str], kwargs: Mapping[str, str]) -> str:
        return ", ".join([*args, *(f"{k}={v}" for k, v in kwargs.items())])

    def text(self) -> str:
        """The call as code, without the tail."""
        head = self.api if self.ctor is None else f"{self.api}({self._arguments(*self.ctor)})"
        return f"{head}({self._arguments(self.args, self.kwargs)})"


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

    def kind(self, name: str) -> str:
        """The dtype a case array is built in: the test dtype for floats, int64 otherwise."""
        return "DTYPE" if self.arrays[name].dtype.kind == "f" else '"int64"'

    def floating_wrt(self) -> list[str]:
        """The case arrays of the captured call whose gradient a script can ask for."""
        return [n for n in sorted(self.call.direct) if n in self.wrt and self.arrays[n].dtype.kind == "f"]

    def recipe_head(self) -> list[str]:
        """The inlined recipe and the constants a recipe body calls it with."""
        return [self.recipe_source.rstrip(), "", "",
                f"NAMES = {py(tuple(self.arrays))}", f"PARAMS = {py(dict(self.params))}",
                f"REDUCTION = {self.reduction!r}", f"WRT = {py(tuple(self.wrt))}"]


class ScriptWriter:
    """What a framework's folder tells the reproducers: the script's imports and
    helpers, how its tensors are built (for capturing a native recipe's call), and
    the body of ``compute`` around a captured call or an inlined recipe."""

    framework = ""
    requires = ""                               # "PyTorch": what the script imports besides NumPy
    setup = ""                                  # imports and configuration at the top of the script
    helpers = ""                                # version(), tensor()/array(), result()
    tails: Mapping[str, str] = {}               # the suite's reductions of a captured call's result
    #: how api strings spell the framework's modules -> the module to import
    prefixes: Mapping[str, str] = {}
    doc_hosts: tuple[str, ...] = ()             # hosts of the framework's documentation
    #: names the setup and helpers bind (-> the module, or None): inlined code renames its own
    reserved: Mapping[str, str | None] = {}
    #: project helpers replaced by a plain equivalent in inlined code: qualified name ->
    #: (source, import lines)
    shims: Mapping[str, tuple[str, tuple[str, ...]]] = {}

    # -- capture: tensors as the adapter builds them -------------------------------------
    def tensors(self, arrays: Mapping[str, np.ndarray], dtype: str, device: str, wrt: tuple[str, ...]) -> dict:
        raise CaptureError(f"no call capture for {self.framework}")

    def is_tensor(self, x: Any) -> bool:
        return False

    def dtype_name(self, x: Any) -> str:
        raise NotImplementedError

    def numpy(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def tail(self, x: Any, kind: str) -> Any:
        raise NotImplementedError

    def literal(self, value: Any) -> str | None:
        """A framework object other than a tensor written as code (a dtype), or None."""
        return None

    # -- the recipe as the adapter runs it -------------------------------------------------
    def inlined(self, adapter: Any, loss: str) -> Any:
        """The function whose source a recipe reproducer inlines."""
        return adapter.recipes[loss].fn

    def split_params(self, recipe: Any, arrays: Mapping[str, np.ndarray],
                     params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(parameters passed at run time, parameters compiled in)."""
        return dict(params), {}

    # -- compute() ----------------------------------------------------------------------------
    def call_body(self, spec: Spec) -> str:
        raise NotImplementedError

    def recipe_body(self, spec: Spec) -> str:
        raise NotImplementedError

    def tail_lines(self, spec: Spec, indent: str) -> list[str]:
        if not spec.call.tail:
            return []
        return [f"{indent}loss = {self.tails[spec.call.tail]}   # the suite's reduction"]

    def declarations(self, spec: Spec, indent: str, builder: str, grad_flag: bool = False) -> list[str]:
        """One line per tensor the captured call uses: case arrays, then extras."""
        call, lines = spec.call, []
        for name in sorted(call.direct):
            grad = grad_flag and name in spec.wrt and spec.arrays[name].dtype.kind == "f"
            lines.append(f'{variable(name)} = {builder}(arrays[{name!r}], {spec.kind(name)}'
                         + (", requires_grad=True)" if grad else ")"))
        for name, (_, dtype) in call.extras.items():
            lines.append(f'{name} = {builder}(arrays[{name!r}], {dtype!r})   # made by the suite\'s recipe')
        return [indent + line for line in lines]
