"""The frameworks, wired: the adapters' registry (adapters and their reproducer
writers), with the NumPy baseline given the oracle's formulas. Everything that runs adapters (the engine, the workers, the CLI,
the pytest plugin) gets them here."""
from __future__ import annotations

import adapters
import reference
from adapters import UnknownFramework, get, names, register, writer


adapters.provide("numpy", formulas=reference.FUNCTIONS, weighted=reference.sample_weights.evaluate)

__all__ = ["UnknownFramework", "get", "names", "register", "writer"]
