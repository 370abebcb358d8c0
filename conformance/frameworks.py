"""The frameworks, wired: the adapters' registry (adapters and their reproducer
writers), with the NumPy baseline given the oracle's formulas. Everything that runs adapters (the engine, the workers, the CLI,
the pytest plugin) gets them here."""
from __future__ import annotations

import numpy as np

import adapters
import reference
from adapters import UnknownFramework, get, names, register, writer


def _formula(loss: str):
    """The loss's formula as the NumPy baseline calls it, sample weights included
    (reference.call weighs the terms of a case that has them)."""
    def formula(*, reduction: str, **kwargs):
        params = {k: v for k, v in kwargs.items() if not isinstance(v, np.ndarray)}
        arrays = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
        return reference.call(loss, arrays, params, reduction)
    return formula


adapters.provide("numpy", formulas={name: _formula(name) for name in reference.FUNCTIONS})

__all__ = ["UnknownFramework", "get", "names", "register", "writer"]
