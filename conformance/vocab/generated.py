"""Arrays made by a seeded generator: a small spec ({kind, seed, ...}) instead of
millions of numbers. The LLM-scale cases (conformance/large.py) write their arrays
to cases.jsonl as such a spec, and reading a case rebuilds them bit for bit."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

IGNORE_INDEX = -100


def generate(spec: Mapping[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """The array a generator spec describes (ValueError for a malformed spec)."""
    kind, seed = spec.get("kind"), spec.get("seed")
    if not isinstance(seed, int) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"generated array needs an int seed and a shape of sizes, got {dict(spec)!r}")
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(0.0, float(spec["scale"]), shape)
    if kind == "classes":
        classes, ignored = int(spec["classes"]), float(spec.get("ignored", 0.0))
        t = rng.integers(0, classes, shape)
        return np.where(rng.random(shape) < ignored, int(spec.get("ignore_index", IGNORE_INDEX)), t)
    raise ValueError(f"unknown generator kind {kind!r}; known: normal, classes")
