"""Capture the framework call a native recipe makes, so a reproducer can write it as code.

The recipe runs once, eagerly (JAX without jit), on the tensors its adapter would
build, while the framework functions and classes that its ``api`` string names are
replaced by recorders. The recipe must make exactly one such call at the top level
(a call the framework makes inside it is not counted), and return that call's
result as it is or reduced by a sum, a mean or a batch mean. Each tensor argument is
mapped back, by identity, to the case array it is; a tensor the recipe made on the
way (a reshape, a cast) is saved as an extra array with its dtype. Python values are
written with ``repr``. Anything else is a ``CaptureError`` with the reason, and the
reproducer falls back to running the recipe's own source (repro_inline).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import math
import re
import types
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from conformance.vocab.reproducer import Call, CaptureError, ScriptWriter, variable

#: Reductions are the recipe's tail, not the call under test.
NOT_THE_CALL = {"sum", "mean", "reduce_sum", "reduce_mean"}
TAILS = ("sum", "mean", "batchmean")


# -- which framework objects to record -----------------------------------------------
def _resolve(dotted: str, prefixes: Mapping[str, str]) -> tuple[Any, str, Any] | None:
    """(owner, attribute, object) of a dotted name such as tf.nn.ctc_loss, or None."""
    parts = dotted.split(".")
    try:
        owner = importlib.import_module(prefixes[parts[0]])
        for p in parts[1:-1]:
            owner = getattr(owner, p)
        return owner, parts[-1], getattr(owner, parts[-1])
    except (ImportError, AttributeError, KeyError):
        return None


def targets(api: str, writer: ScriptWriter) -> dict[str, tuple[Any, str, Any]]:
    """The framework callables an api string names: its dotted names, and the bare
    names after them that belong to the same module ("optax.losses.a / b")."""
    prefixes = tuple(writer.prefixes)
    pattern = r"\b(?:%s)(?:\.[A-Za-z_]\w*)+" % "|".join(prefixes)
    found: dict[str, tuple[Any, str, Any]] = {}
    owners: dict[str, Any] = {}
    for dotted in re.findall(pattern, api) if prefixes else []:
        resolved = _resolve(dotted, writer.prefixes)
        if resolved is None:
            continue
        owner, attr, obj = resolved
        if isinstance(obj, types.ModuleType):
            owners[dotted] = obj
            continue
        owners[dotted.rsplit(".", 1)[0]] = owner
        if callable(obj) and attr not in NOT_THE_CALL:
            found[dotted] = resolved
    words = set(re.findall(r"\b[A-Za-z_]\w*\b", api)) - NOT_THE_CALL
    for prefix, owner in owners.items():
        for w in words:
            obj = getattr(owner, w, None)
            if obj is not None and callable(obj) and not isinstance(obj, types.ModuleType):
                found.setdefault(f"{prefix}.{w}", (owner, w, obj))
    return found


@dataclass
class _Raw:
    api: str
    ctor: tuple[tuple, dict] | None
    args: tuple
    kwargs: dict
    out: Any = None
    error: BaseException | None = None


class _Recorder:
    """Replaces the targets by recorders while the recipe runs (``with``), restores them."""

    def __init__(self, found: Mapping[str, tuple[Any, str, Any]]) -> None:
        self.found, self.calls, self.depth = found, [], 0
        self.ctors: dict[int, tuple[tuple, dict]] = {}
        self._undo: list[Callable[[], None]] = []

    def _run(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        self.depth += 1
        try:
            return fn(*args, **kwargs)
        finally:
            self.depth -= 1

    def _top(self, raw: "_Raw", fn: Callable, args: tuple, kwargs: dict) -> Any:
        """A call from the recipe itself: recorded with its result, or with what it raised."""
        self.calls.append(raw)
        try:
            raw.out = self._run(fn, args, kwargs)
        except Exception as exc:
            raw.error = exc
            raise
        return raw.out

    def _function(self, dotted: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def recording(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return fn(*args, **kwargs)
            return self._top(_Raw(dotted, None, args, kwargs), fn, args, kwargs)
        return recording

    def _class(self, dotted: str, cls: type) -> None:
        init, call = cls.__init__, cls.__call__
        recorder = self

        def __init__(inst: Any, *args: Any, **kwargs: Any) -> None:
            if not recorder.depth:
                recorder.ctors[id(inst)] = (args, kwargs)
            recorder._run(init, (inst, *args), kwargs)

        def __call__(inst: Any, *args: Any, **kwargs: Any) -> Any:
            if recorder.depth:
                return call(inst, *args, **kwargs)
            return recorder._top(_Raw(dotted, recorder.ctors.get(id(inst)), args, kwargs),
                                 call, (inst, *args), kwargs)
        for name, new in (("__init__", __init__), ("__call__", __call__)):
            own = cls.__dict__.get(name)
            setattr(cls, name, new)
            self._undo.append(functools.partial(setattr, cls, name, own) if own is not None
                              else functools.partial(delattr, cls, name))

    def __enter__(self) -> "_Recorder":
        for dotted, (owner, attr, obj) in self.found.items():
            if inspect.isclass(obj):
                self._class(dotted, obj)
            else:
                setattr(owner, attr, self._function(dotted, obj))
                self._undo.append(functools.partial(setattr, owner, attr, obj))
        return self

    def __exit__(self, *exc: Any) -> None:
        for undo in reversed(self._undo):
            undo()


# -- from a recorded call to code --------------------------------------------------------
def _same(backend: ScriptWriter, a: Any, b: Any) -> bool:
    if not (backend.is_tensor(a) and backend.is_tensor(b)) or backend.dtype_name(a) != backend.dtype_name(b):
        return False
    x, y = backend.numpy(a), backend.numpy(b)
    return x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True))


def _tail(backend: ScriptWriter, produced: Any, out: Any, reduction: str) -> str:
    if produced is out:
        return ""
    order = sorted(TAILS, key=lambda k: k != reduction)
    for kind in order:
        if backend.is_tensor(produced) and _same(backend, backend.tail(produced, kind), out):
            return kind
    if _same(backend, produced, out):
        return ""
    raise CaptureError("the recipe changes the call's result (more than a sum or a mean of it)")


class _Writer:
    """Python values and tensors as code: case arrays by name, other tensors as extras."""

    def __init__(self, backend: ScriptWriter, tensors: Mapping[str, Any]) -> None:
        self.backend = backend
        self.names = {id(t): n for n, t in tensors.items()}
        self.direct: set[str] = set()
        self.extras: dict[str, tuple[np.ndarray, str]] = {}
        self._extra_ids: dict[int, str] = {}

    def __call__(self, v: Any) -> str:
        b = self.backend
        if b.is_tensor(v):
            if id(v) in self.names:
                self.direct.add(self.names[id(v)])
                return variable(self.names[id(v)])
            if id(v) not in self._extra_ids:
                self._extra_ids[id(v)] = name = f"extra_{len(self.extras)}"
                self.extras[name] = (b.numpy(v), b.dtype_name(v))
            return self._extra_ids[id(v)]
        if isinstance(v, (list, tuple)):
            inner = ", ".join(self(x) for x in v)
            return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return "{" + ", ".join(f"{k!r}: {self(x)}" for k, x in v.items()) + "}"
        if isinstance(v, float) and not math.isfinite(v):
            return f"float({str(v)!r})"
        if v is None or isinstance(v, (bool, int, float, str)):
            return repr(v)
        if isinstance(v, np.generic) and v.dtype.kind in "biuf":   # np.float32(0.5): the type matters
            return repr(v) if np.isfinite(v) else f"np.{type(v).__name__}({str(v)!r})"
        written = b.literal(v)
        if written is None:
            raise CaptureError(f"an argument of type {type(v).__name__} cannot be written as code")
        return written


def capture(backend: ScriptWriter, recipe: Any, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any],
            reduction: str, dtype: str, device: str, wrt: tuple[str, ...]) -> Call:
    """The one framework call ``recipe`` makes on these inputs (raises CaptureError);
    ``backend`` is the framework's writer, which builds tensors as its adapter does."""
    if not backend.prefixes:
        raise CaptureError(f"no call capture for {backend.framework}")
    found = targets(recipe.api, backend)
    if not found:
        raise CaptureError(f"the api string names no {backend.framework} function: {recipe.api[:120]!r}")
    tensors = backend.tensors(arrays, dtype, device, wrt)
    raised: BaseException | None = None
    with _Recorder(found) as recorder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = recipe.fn(tensors, dict(params), reduction)
        except Exception as exc:  # noqa: BLE001 - a refusal is what some reproducers show
            raised = exc
    if len(recorder.calls) != 1:
        names = sorted({c.api for c in recorder.calls}) or ["none of " + ", ".join(sorted(found))]
        raise CaptureError(f"the recipe makes {len(recorder.calls)} framework calls ({', '.join(names)}), not one")
    raw = recorder.calls[0]
    if raised is not None and raw.error is not raised:
        raise CaptureError(f"the recipe itself raised {type(raised).__name__}: {raised}")
    write = _Writer(backend, tensors)
    call = Call(raw.api, [write(a) for a in raw.args], {k: write(v) for k, v in raw.kwargs.items()})
    if raw.ctor is not None:
        call.ctor = ([write(a) for a in raw.ctor[0]], {k: write(v) for k, v in raw.ctor[1].items()})
    elif inspect.isclass(found[raw.api][2]):
        raise CaptureError(f"{raw.api} was constructed outside the recipe's own code")
    call.tail = "" if raised is not None else _tail(backend, raw.out, out, reduction)
    call.direct, call.extras = write.direct, write.extras
    return call
