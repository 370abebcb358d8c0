"""Find an adapter by name. Each adapter module is imported only when asked for."""
from __future__ import annotations

import importlib

from .base import FrameworkAdapter

ADAPTERS: dict[str, str] = {
    "numpy": "adapters.numpy_adapter:NumpyAdapter",
    "torch": "adapters.torch_adapter:TorchAdapter",
    "jax": "adapters.jax_adapter:JaxAdapter",
    "tensorflow": "adapters.tensorflow_adapter:TensorflowAdapter",
}

_instances: dict[str, FrameworkAdapter] = {}
_users: dict[str, FrameworkAdapter] = {}


class UnknownFramework(ValueError):
    pass


def names() -> list[str]:
    return list(ADAPTERS)


def register(adapter: FrameworkAdapter) -> None:
    """Make a user's adapter (adapters.user.load) reachable by its name."""
    _users[adapter.name] = adapter


def get(name: str) -> FrameworkAdapter:
    if name in _users:
        return _users[name]
    if name not in ADAPTERS:
        raise UnknownFramework(f"unknown framework {name!r}; known frameworks: {', '.join(ADAPTERS)}")
    if name not in _instances:
        module, attr = ADAPTERS[name].split(":")
        _instances[name] = getattr(importlib.import_module(module), attr)()
    return _instances[name]
