"""Framework adapters, one folder each (adapters/<framework>/: adapter, ops, recipes
per loss family, reproducer writer). Importing this package imports no framework."""
from .registry import ADAPTERS, UnknownFramework, get, names, provide, register, writer

__all__ = ["ADAPTERS", "UnknownFramework", "get", "names", "provide", "register", "writer"]
