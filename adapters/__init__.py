"""Framework adapters. Importing this package imports no framework."""
from .registry import ADAPTERS, UnknownFramework, get, names, register

__all__ = ["ADAPTERS", "UnknownFramework", "get", "names", "register"]
