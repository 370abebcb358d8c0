"""Load a user's adapter: ``--adapter module:attribute`` or ``--adapter path/to/file.py[:attribute]``.

The attribute (default ``ADAPTER``) is a ``FrameworkAdapter`` instance or subclass
(instantiated without arguments). Anything wrong — a module that does not import,
a missing attribute, an object that is not an adapter, a name that clashes with a
built-in framework, a recipe table of the wrong types, a ``version``/``devices``
that raises or returns the wrong type — is an ``AdapterLoadError`` naming what was
wrong and what is expected (the CLI exits 2). ``load_checked`` first loads the
adapter in a child process with a time limit (``probe``), so one that segfaults or
hangs while loading costs one message, not the suite's process.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import multiprocessing
import os
import signal
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from conformance.vocab import catalog
from conformance.vocab.dtypes import DTYPES as DTYPE_NAMES

from .base import DEVICES, FrameworkAdapter, Policy, Recipe
from .registry import ADAPTERS

#: seconds a user's adapter may take to import and answer version() and devices()
LOAD_TIMEOUT = 120.0

DEFAULT_ATTRIBUTE = "ADAPTER"
EXPECTED = ("expected 'module:attribute' or 'path/to/file.py[:attribute]' naming an "
            "adapters.base.FrameworkAdapter (see README, 'Checking your own implementation')")


class AdapterLoadError(ValueError):
    pass


def _module(target: str) -> ModuleType:
    path = Path(target)
    try:
        if target.endswith(".py") or path.is_file():
            if not path.is_file():
                raise AdapterLoadError(f"adapter file {target!r} does not exist; {EXPECTED}")
            name = f"_user_adapter_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(target)
    except AdapterLoadError:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure to import is the user's to see
        raise AdapterLoadError(f"adapter module {target!r} failed to import: "
                               f"{type(exc).__name__}: {exc}") from None


def load(spec: str) -> FrameworkAdapter:
    target, sep, attribute = spec.rpartition(":")
    if not sep:
        target, attribute = spec, DEFAULT_ATTRIBUTE
    if not target or not attribute:
        raise AdapterLoadError(f"bad --adapter {spec!r}; {EXPECTED}")
    module = _module(target)
    if not hasattr(module, attribute):
        public = [n for n in vars(module) if not n.startswith("_")]
        raise AdapterLoadError(f"adapter module {target!r} has no attribute {attribute!r} "
                               f"(it has: {', '.join(public[:12]) or 'nothing public'}); {EXPECTED}")
    obj = getattr(module, attribute)
    try:
        adapter = obj() if inspect.isclass(obj) and issubclass(obj, FrameworkAdapter) else obj
    except Exception as exc:  # noqa: BLE001
        raise AdapterLoadError(f"{spec}: constructing {obj.__name__}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(adapter, FrameworkAdapter):
        raise AdapterLoadError(f"{spec} is a {type(adapter).__name__}, not a FrameworkAdapter; {EXPECTED}")
    _validate(spec, adapter)
    return adapter


def _validate(spec: str, adapter: FrameworkAdapter) -> None:
    if not isinstance(adapter.name, str) or not adapter.name.isidentifier():
        raise AdapterLoadError(f"{spec}: an adapter needs a 'name' (an identifier), got {adapter.name!r}")
    if adapter.name in ADAPTERS:
        raise AdapterLoadError(f"{spec}: name {adapter.name!r} is a built-in framework; choose another name")
    if not isinstance(adapter.recipes, Mapping) or not adapter.recipes:
        raise AdapterLoadError(f"{spec}: the adapter has no recipes (a dict: catalog loss -> Recipe), "
                               f"got {type(adapter.recipes).__name__}")
    unknown = sorted(str(k) for k in adapter.recipes if k not in catalog.catalog())
    if unknown:
        raise AdapterLoadError(f"{spec}: recipes for unknown losses {', '.join(map(repr, unknown))}; "
                               f"catalog losses: {', '.join(catalog.catalog())}")
    for loss, recipe in adapter.recipes.items():
        problem = _recipe_problem(recipe)
        if problem:
            raise AdapterLoadError(f"{spec}: recipes[{loss!r}] {problem}")
    policies = adapter.policies_by_loss
    if not isinstance(policies, Mapping) or any(not isinstance(p, Policy) for p in policies.values()):
        raise AdapterLoadError(f"{spec}: policies_by_loss must be a dict of catalog loss -> adapters.base.Policy")
    if not isinstance(adapter.workers, int) or isinstance(adapter.workers, bool) or not 1 <= adapter.workers <= 16:
        raise AdapterLoadError(f"{spec}: workers must be an integer from 1 to 16, got {adapter.workers!r}")
    missing = [m for m in ("_import", "version", "devices")
               if getattr(type(adapter), m) is getattr(FrameworkAdapter, m)]
    if type(adapter)._run is FrameworkAdapter._run and type(adapter)._prepare is FrameworkAdapter._prepare:
        missing.append("_run")
    if missing:
        raise AdapterLoadError(f"{spec}: the adapter does not implement {', '.join(missing)}")
    results = {}
    for method in ("version", "devices"):
        try:
            results[method] = getattr(adapter, method)()
        except Exception as exc:  # noqa: BLE001
            raise AdapterLoadError(f"{spec}: {method}() raised {type(exc).__name__}: {exc}") from None
    if not isinstance(results["version"], str):
        raise AdapterLoadError(f"{spec}: version() must return a string, got {type(results['version']).__name__}")
    found = results["devices"]
    if not isinstance(found, (tuple, list)) or not found or any(d not in DEVICES for d in found):
        raise AdapterLoadError(f"{spec}: devices() must return a non-empty tuple of {', '.join(DEVICES)}, "
                               f"got {found!r}")


def _recipe_problem(recipe: object) -> str | None:
    """What is wrong with one entry of a recipe table (None: nothing)."""
    if not isinstance(recipe, Recipe):
        return f"is a {type(recipe).__name__}, not an adapters.base.Recipe"
    if not callable(recipe.fn):
        return f"has fn {type(recipe.fn).__name__}, not a function"
    if not isinstance(recipe.api, str):
        return f"has api {type(recipe.api).__name__}, not a string"
    if not (callable(recipe.kind) or recipe.kind in ("native", "composed")):
        return f"has kind {recipe.kind!r}: 'native', 'composed' or a function of the case"
    if recipe.unsupported is not None and not callable(recipe.unsupported):
        return "has unsupported that is not a function of the case (or None)"
    if recipe.dtypes is not None and (not isinstance(recipe.dtypes, (tuple, list))
                                      or any(d not in DTYPE_NAMES for d in recipe.dtypes)):
        return f"has dtypes {recipe.dtypes!r}: None or a tuple of {', '.join(DTYPE_NAMES)}"
    return None


# -- loading in a child process first ------------------------------------------------------
def _probe_child(conn: Any, spec: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        adapter = load(spec)
        reply = {"name": adapter.name}
    except AdapterLoadError as exc:
        reply = {"error": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the parent says it once
        reply = {"error": f"{spec}: loading raised {type(exc).__name__}: {exc}"}
    conn.send_bytes(json.dumps(reply).encode())


def probe(spec: str, timeout: float = LOAD_TIMEOUT) -> None:
    """Load the adapter once in a child process, within ``timeout`` seconds, so that one
    that segfaults or hangs on import, construction, ``version()`` or ``devices()`` costs
    an AdapterLoadError (one message) instead of the suite's own process."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_probe_child, args=(child, spec), name="conformance-adapter-probe", daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise AdapterLoadError(f"adapter {spec!r} did not finish loading within {timeout:g} s (its import, "
                                   "constructor, version() or devices() hangs); it was stopped")
        try:
            reply = json.loads(parent.recv_bytes())
        except (EOFError, OSError):
            process.join(5)
            raise AdapterLoadError(f"adapter {spec!r} crashed the process that loaded it "
                                   f"({_ended(process.exitcode)}) during its import, constructor, version() or "
                                   "devices()") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()
    if "error" in reply:
        raise AdapterLoadError(reply["error"])


def _ended(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def load_checked(spec: str, timeout: float = LOAD_TIMEOUT) -> FrameworkAdapter:
    """``probe`` in a child process, then ``load`` here."""
    probe(spec, timeout)
    return load(spec)
