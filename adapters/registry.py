"""Find an adapter by name. Each framework's folder (adapters/<name>/) is imported
only when asked for.

The built-in frameworks are listed here in run order. The NumPy baseline runs the
oracle's formulas, which the suite's wiring supplies (``provide``): adapters/
never imports the reference.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from .base import FrameworkAdapter

#: name -> "module:attribute" of the adapter class, in run order
ADAPTERS: dict[str, str] = {
    "numpy": "adapters.numpy.adapter:NumpyAdapter",
    "torch": "adapters.torch.adapter:TorchAdapter",
    "jax": "adapters.jax.adapter:JaxAdapter",
    "tensorflow": "adapters.tensorflow.adapter:TensorflowAdapter",
}
#: name -> "module:attribute" of the framework's reproducer script writer
WRITERS: dict[str, str] = {name: f"adapters.{name}.reproducer:WRITER" for name in ADAPTERS}

_arguments: dict[str, dict[str, Any]] = {}
_instances: dict[str, FrameworkAdapter] = {}
_users: dict[str, FrameworkAdapter] = {}


class UnknownFramework(ValueError):
    pass


def names() -> list[str]:
    return list(ADAPTERS)


def provide(name: str, **arguments: Any) -> None:
    """What a built-in adapter is constructed with (the NumPy baseline: ``formulas``)."""
    _arguments[name] = arguments
    _instances.pop(name, None)


def register(adapter: FrameworkAdapter) -> None:
    """Make a user's adapter (adapters.user.load) reachable by its name."""
    _users[adapter.name] = adapter


def _load(dotted: str) -> Any:
    module, attr = dotted.split(":")
    return getattr(importlib.import_module(module), attr)


def get(name: str) -> FrameworkAdapter:
    if name in _users:
        return _users[name]
    if name not in ADAPTERS:
        raise UnknownFramework(f"unknown framework {name!r}; known frameworks: {', '.join(ADAPTERS)}")
    if name not in _instances:
        make: Callable[..., FrameworkAdapter] = _load(ADAPTERS[name])
        try:
            _instances[name] = make(**_arguments.get(name, {}))
        except TypeError as exc:
            raise UnknownFramework(f"the {name} adapter needs what the suite's wiring provides "
                                   f"(import conformance.frameworks): {exc}") from None
    return _instances[name]


def writer(name: str) -> Any | None:
    """The reproducer script writer of a built-in framework; None for a user's adapter."""
    return _load(WRITERS[name]) if name in WRITERS and name not in _users else None
