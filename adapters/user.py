"""Load a user's adapter: ``--adapter module:attribute`` or ``--adapter path/to/file.py[:attribute]``.

The attribute (default ``ADAPTER``) is a ``FrameworkAdapter`` instance or subclass
(instantiated without arguments). Anything wrong — a module that does not import,
a missing attribute, an object that is not an adapter, a name that clashes with a
built-in framework, a ``version``/``devices`` that raises — is an ``AdapterLoadError``
naming what was wrong and what is expected (the CLI exits 2).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from .base import FrameworkAdapter
from .registry import ADAPTERS

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
    if not adapter.recipes:
        raise AdapterLoadError(f"{spec}: the adapter has no recipes (a dict: catalog loss -> Recipe)")
    from conformance import catalog
    unknown = sorted(set(adapter.recipes) - set(catalog.catalog()))
    if unknown:
        raise AdapterLoadError(f"{spec}: recipes for unknown losses {', '.join(map(repr, unknown))}; "
                               f"catalog losses: {', '.join(catalog.catalog())}")
    missing = [m for m in ("_import", "version", "devices")
               if getattr(type(adapter), m) is getattr(FrameworkAdapter, m)]
    if type(adapter)._run is FrameworkAdapter._run and type(adapter)._prepare is FrameworkAdapter._prepare:
        missing.append("_run")
    if missing:
        raise AdapterLoadError(f"{spec}: the adapter does not implement {', '.join(missing)}")
    for method in ("version", "devices"):
        try:
            getattr(adapter, method)()
        except Exception as exc:  # noqa: BLE001
            raise AdapterLoadError(f"{spec}: {method}() raised {type(exc).__name__}: {exc}") from None
