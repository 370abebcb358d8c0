"""Expected against actual in a bug report: two numbers printed so that they visibly
differ, and the absolute and relative error between them.

Printing both at a fixed precision hides a small error (0.1234568 and 0.1234568 at
seven digits, for values that differ at the eighth); printing both in full buries it
in digits. ``distinct`` takes the fewest significant digits, at least ``LEAST``, at
which the two texts differ. For arrays the digits are chosen at the worst element and
used for every element, so the columns line up.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

LEAST = 4          # significant digits at the least
MOST = 17          # enough for any float64: two values equal at 17 digits are equal


def text(value: float, digits: int) -> str:
    """``value`` with ``digits`` significant digits (trailing zeros kept); nan, inf as such."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:#.{digits}g}".rstrip(".") if value != 0 else ("-0.0" if math.copysign(1, value) < 0 else "0.0")


def digits(expected: float, actual: float) -> int:
    """The fewest significant digits, at least LEAST, at which the two print differently."""
    for n in range(LEAST, MOST + 1):
        if text(expected, n) != text(actual, n):
            return n
    return MOST


def distinct(expected: float, actual: float) -> tuple[str, str]:
    """Both numbers at the digits that tell them apart."""
    n = digits(expected, actual)
    return text(expected, n), text(actual, n)


def array_text(values: Any, n: int, limit: int = 24) -> str:
    """Up to ``limit`` elements of an array at ``n`` significant digits, as a list literal."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0:
        return text(a, n)
    flat = [text(v, n) for v in a.ravel()[:limit]]
    more = f", … ({a.size} elements)" if a.size > limit else ""
    return "[" + ", ".join(flat) + more + "]"


def shown(summary: Mapping[str, Any] | None, n: int) -> str:
    """A record's array summary at ``n`` significant digits: a number for a scalar."""
    data = decoded(summary)
    if data is None:
        return "—"
    if not summary["shape"] and data.size:
        return text(data[0], n)
    size = int(np.prod(summary["shape"]))
    listed = array_text(data, n)
    return listed[:-1] + f", … ({size} elements)]" if size > data.size else listed


def errors(expected: float, actual: float) -> tuple[float | None, float | None]:
    """(absolute, relative) error of ``actual``; None where it is not a finite number
    (a non-finite side; the relative error of an expected 0)."""
    expected, actual = float(expected), float(actual)
    if not (math.isfinite(expected) and math.isfinite(actual)):
        return None, None
    absolute = abs(actual - expected)
    return absolute, (absolute / abs(expected) if expected != 0 else None)


def decoded(summary: Mapping[str, Any] | None) -> np.ndarray | None:
    """A record's truncated array summary as float64 (its first elements, flat)."""
    if not summary:
        return None
    return np.asarray([float(x) for x in summary["data"]], dtype=np.float64)


def at_worst(summary: Mapping[str, Any] | None, at: tuple[int, ...] | None) -> float | None:
    """The summary's element at ``at`` (the worst element's index), when the summary holds it."""
    data = decoded(summary)
    if data is None or at is None:
        return None
    shape = tuple(summary["shape"])
    try:
        flat = int(np.ravel_multi_index(tuple(at), shape)) if shape else 0
    except ValueError:
        return None
    return float(data[flat]) if flat < data.size else None
