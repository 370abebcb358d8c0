"""Types of the files the suite reads, as data, and one checker for them.

Every file a user can hand the suite (results, cases, ``run.json``, a corpus, a
baseline) is JSON written by the suite; a file that was edited, truncated,
written by something else or by another version must be refused with one
message naming the file, the line and the field, never with a traceback from
deep inside the report. A spec is a small value:

* a Python type (``str``, ``int``, ``bool``, ``dict``, ``list``) or ``NUMBER``
  (an int or a float, not a bool);
* ``one_of(*values)``: one of these literals;
* ``nullable(spec)``, ``either(*specs)``: None too, or any of several specs;
* ``list_of(spec)``, ``map_of(spec)`` (string keys);
* ``obj(required={...}, optional={...})``: an object whose listed keys have
  these specs (other keys are allowed: a newer writer may add some).

``check(value, spec, where)`` raises ``SchemaError(f"{where}: {field} must be
..., got ...")`` at the first field that does not fit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

class SchemaError(ValueError):
    """A file the suite reads is not what it should be: where, and what is wrong."""


NUMBER = "number"


@dataclass(frozen=True)
class _OneOf:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class _Either:
    specs: tuple[Any, ...]


@dataclass(frozen=True)
class _ListOf:
    item: Any
    min_items: int = 0


@dataclass(frozen=True)
class _MapOf:
    value: Any


@dataclass(frozen=True)
class _Object:
    required: Mapping[str, Any]
    optional: Mapping[str, Any] = field(default_factory=dict)


def one_of(*values: Any) -> _OneOf:
    return _OneOf(values)


def either(*specs: Any) -> _Either:
    return _Either(specs)


def nullable(spec: Any) -> _Either:
    return _Either((type(None), spec))


def list_of(item: Any, *, min_items: int = 0) -> _ListOf:
    return _ListOf(item, min_items)


def map_of(value: Any) -> _MapOf:
    return _MapOf(value)


def obj(required: Mapping[str, Any] | None = None, optional: Mapping[str, Any] | None = None) -> _Object:
    return _Object(dict(required or {}), dict(optional or {}))


_NAMES = {str: ("a string", "strings"), int: ("an integer", "integers"), bool: ("true or false", "true/false values"),
          dict: ("an object", "objects"), list: ("a list", "lists"), float: ("a number", "numbers"),
          type(None): ("null", "nulls")}


def describe(spec: Any, plural: bool = False) -> str:
    if spec is NUMBER:
        return "numbers" if plural else "a number"
    if isinstance(spec, type):
        return _NAMES.get(spec, (spec.__name__, spec.__name__ + "s"))[plural]
    if isinstance(spec, _OneOf):
        shown = ", ".join(json.dumps(v) for v in spec.values[:12])
        return f"{'each ' if plural else ''}one of {shown}" + (" ..." if len(spec.values) > 12 else "")
    if isinstance(spec, _Either):
        return " or ".join(describe(s, plural) for s in spec.specs)
    if isinstance(spec, _ListOf):
        return "lists" if plural else f"a list of {describe(spec.item, plural=True)}"
    if isinstance(spec, _MapOf):
        return "objects" if plural else f"an object of {describe(spec.value, plural=True)}"
    if isinstance(spec, _Object):
        return "objects" if plural else "an object"
    raise TypeError(f"not a schema spec: {spec!r}")


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value)}"
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fits(value: Any, spec: Any) -> bool:
    try:
        _check(value, spec, "")
    except SchemaError:
        return False
    return True


def _check(value: Any, spec: Any, path: str) -> None:
    def fail(what: str | None = None) -> None:
        raise SchemaError(f"{path or 'the value'} must be {what or describe(spec)}, got {_shown(value)}")

    if spec is NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
    elif spec is type(None):
        if value is not None:
            fail()
    elif isinstance(spec, type):
        if spec is int and (isinstance(value, bool) or not isinstance(value, int)):
            fail()
        if not isinstance(value, spec):
            fail()
    elif isinstance(spec, _OneOf):
        if not any(value == v and type(value) is type(v) for v in spec.values):
            fail()
    elif isinstance(spec, _Either):
        if not any(_fits(value, s) for s in spec.specs):
            for s in spec.specs:         # the closest alternative's own message is the clearest
                if _same_shape(value, s):
                    _check(value, s, path)
            fail()
    elif isinstance(spec, _ListOf):
        if not isinstance(value, list):
            fail()
        if len(value) < spec.min_items:
            fail(f"a list of at least {spec.min_items}")
        for i, item in enumerate(value):
            _check(item, spec.item, f"{path}[{i}]")
    elif isinstance(spec, _MapOf):
        if not isinstance(value, dict):
            fail()
        for k, v in value.items():
            _check(v, spec.value, f"{path}.{k}" if path else k)
    elif isinstance(spec, _Object):
        if not isinstance(value, dict):
            fail()
        missing = [k for k in spec.required if k not in value]
        if missing:
            raise SchemaError(f"{path + ': ' if path else ''}missing {', '.join(missing)}")
        for k, s in (*spec.required.items(), *spec.optional.items()):
            if k in value:
                _check(value[k], s, f"{path}.{k}" if path else k)
    else:
        raise TypeError(f"not a schema spec: {spec!r}")


def _same_shape(value: Any, spec: Any) -> bool:
    """Whether ``spec`` is the container kind ``value`` is (to pick the alternative to explain)."""
    return (isinstance(value, dict) and isinstance(spec, (_Object, _MapOf))) or \
           (isinstance(value, list) and isinstance(spec, _ListOf))


def check(value: Any, spec: Any, where: str) -> Any:
    """``value`` when it fits ``spec``; otherwise SchemaError naming ``where`` and the field."""
    try:
        _check(value, spec, "")
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    return value


def parse_json(text: str | bytes, where: str, *, infinity: bool = False) -> Any:
    """``json.loads`` with the failures a hand-edited or foreign file can cause turned
    into SchemaError: not JSON, nested too deeply, numbers Python will not hold. The
    suite writes non-finite numbers as strings; ``infinity`` also accepts the bare
    ``Infinity`` that baselines of an earlier version held."""
    try:
        return json.loads(text, parse_constant=_infinity if infinity else _constant)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except UnicodeDecodeError:
        raise SchemaError(f"{where}: not UTF-8 text") from None
    except RecursionError:
        raise SchemaError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:       # an integer of thousands of digits, a bare NaN
        raise SchemaError(f"{where}: not JSON this suite wrote ({type(exc).__name__}: {str(exc)[:120]})") from None


def _constant(name: str) -> float:
    """NaN and Infinity are not JSON; the suite writes non-finite numbers as strings."""
    raise ValueError(f"bare {name} is not JSON (this suite writes non-finite numbers as strings)")


def _infinity(name: str) -> float:
    if name == "Infinity":
        return math.inf
    return _constant(name)


def finite_or_string(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and math.isfinite(value))
