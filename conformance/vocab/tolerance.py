"""The tolerance model: allowed error = k(dtype) * eps(dtype) * scale + tiny(dtype).

``tiny`` is the dtype's smallest normal number: below it a result has only
absolute accuracy, and flushing subnormals to zero (FTZ, common on CPUs with
some builds and on GPUs) moves a result by at most ``tiny``. So a gradient of
5e-42 returned as 0 in float32 is conformant; 5e-38 returned as 0 is not.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ml_dtypes

from .dtypes import DTYPES, eps, numpy_dtype

TOLERANCE_FILE = Path(__file__).parents[1] / "data" / "tolerance.toml"


@dataclass(frozen=True)
class Tolerance:
    dtype: str
    k: float
    eps: float
    tiny: float
    reason: str
    accumulator_eps: float          # the precision a reduction's sum is held to (tolerance.toml says why)


@lru_cache(maxsize=1)
def _table() -> dict[str, dict]:
    with open(TOLERANCE_FILE, "rb") as f:
        table = tomllib.load(f)["k"]
    missing = set(DTYPES) - set(table)
    if missing:
        raise ValueError(f"{TOLERANCE_FILE}: no k for {sorted(missing)}")
    return table


def for_dtype(dtype: str) -> Tolerance:
    numpy_dtype(dtype)  # an unknown name raises UnknownDtype, listing the known ones
    row = _table()[dtype]
    tiny = float(ml_dtypes.finfo(numpy_dtype(dtype)).smallest_normal)
    accumulator = row["accumulator"]
    if accumulator not in DTYPES or eps(accumulator) > eps(dtype):
        raise ValueError(f"{TOLERANCE_FILE}: the accumulator of {dtype} must be a dtype at least as precise, "
                         f"got {accumulator!r}")
    return Tolerance(dtype=dtype, k=float(row["k"]), eps=eps(dtype), tiny=tiny, reason=row["reason"],
                     accumulator_eps=eps(accumulator))
