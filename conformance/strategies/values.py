"""Arrays of values by role: the bulk from a Hypothesis-drawn NumPy seed, the few
special positions (boundaries: 0, 1, +-magnitude, ties) chosen by Hypothesis."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

MAGNITUDES = (1.0, 10.0, 100.0)
# Sizes come from a few buckets: shapes repeat across cases, so compiled
# frameworks (JAX jit, one executable per shape) are not re-compiled for each
# case; size 1 (broadcast-like) and an odd size are always among them.
SIDES = (1, 2, 3, 5)
MAX_SPECIALS = 3


def fill(draw, shape, label: str, bulk, specials) -> np.ndarray:
    """An array whose bulk comes from a Hypothesis-drawn NumPy seed and whose
    few special positions (boundaries: 0, 1, +-magnitude, ties) Hypothesis
    chooses directly: drawing every element through Hypothesis would be slow,
    and this keeps Hypothesis in charge of the values that matter."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label=f"{label} seed"))
    a = np.asarray(bulk(rng, shape), dtype=np.float64)
    if a.size:
        count = draw(st.integers(0, min(MAX_SPECIALS, a.size)), label=f"{label} specials")
        for _ in range(count):
            i = draw(st.integers(0, a.size - 1), label=f"{label} special position")
            a.flat[i] = draw(specials, label=f"{label} special value")
    return a


def reals(draw, shape, label: str) -> np.ndarray:
    mag = draw(st.sampled_from(MAGNITUDES), label=f"{label} magnitude")
    return fill(draw, shape, label, lambda rng, sh: rng.uniform(-mag, mag, sh),
                 st.sampled_from([0.0, 1.0, -1.0, mag, -mag]) | st.floats(-mag, mag, width=32))


def unit(draw, shape, label: str, *, hard: bool = False) -> np.ndarray:
    if hard:
        return fill(draw, shape, label, lambda rng, sh: rng.integers(0, 2, sh), st.sampled_from([0.0, 1.0]))
    return fill(draw, shape, label, lambda rng, sh: rng.uniform(0.0, 1.0, sh),
                 st.sampled_from([0.0, 1.0, 0.5]) | st.floats(0.0, 1.0, width=32))


def positive(draw, shape, label: str) -> np.ndarray:
    return fill(draw, shape, label, lambda rng, sh: rng.uniform(0.125, 4.0, sh),
                 st.sampled_from([0.125, 1.0, 4.0]))


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    if x.size == 0:
        return x
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
