"""The oracle's answer for a case in a dtype: the inputs rounded to the dtype (so
input rounding is never blamed on a framework), then the float64 reference on
exactly those values, or the refusal (DomainError) of an input outside the loss's
domain. Answers are kept in a cache of bounded size: the frameworks of one cell
share them, and LLM-scale ones are large; the costly ones are shared with the
other processes of a run too (``oracle_store``)."""
from __future__ import annotations

import collections
import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

import reference

from . import oracle_store
from .vocab import catalog
from .vocab.case import Case
from .vocab.dtypes import round_to
from .vocab.tolerance import for_dtype

CACHE_BYTES = 512 << 20


@dataclass(frozen=True)
class Oracle:
    arrays: dict[str, np.ndarray]           # inputs rounded to the dtype (float64 containers)
    evaluation: reference.Evaluation | None
    error: str | None                       # DomainError text: the input must be refused
    value_dependent: bool = False           # the refusal depends on array values


def evaluate(case: Case, arrays: Mapping[str, np.ndarray], policies: Mapping[str, Any] | None = None,
             dtype: str = "float64") -> tuple[reference.Evaluation | None, str | None, bool]:
    """(evaluation, refusal, whether the refusal depends on values) of the reference,
    its value scale in units of eps(dtype) (``in_dtype_units``)."""
    try:
        with np.errstate(all="ignore"):
            ev = reference.evaluate(case.loss, arrays, case.params, case.reduction, policies)
    except reference.DomainError as exc:
        return None, str(exc), exc.value_dependent
    return in_dtype_units(ev, dtype), None, False


def in_dtype_units(ev: reference.Evaluation, dtype: str) -> reference.Evaluation:
    """One value scale in units of eps(dtype): the condition, plus the accumulation
    weighted by eps_acc / eps (tolerance.toml: float32's for half precision, whose
    sums frameworks accumulate in float32), so the verdict, the device check and
    the reproducers apply one tolerance, k * eps * scale + tiny.
    A gradient's scale is at least the gradient's own magnitude: rounding the
    result alone costs eps/2 of it, so a smaller scale (0 where a formula's
    magnitudes meet an infinite input) would fail a correctly rounded answer."""
    tol = for_dtype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.abs(ev.scale) + np.asarray(ev.accumulation, np.float64) * (tol.accumulator_eps / tol.eps)
        grad_scales = {n: _at_least_magnitude(s, *ev.grads[n]) if n in ev.grads else s
                       for n, s in ev.grad_scales.items()}
    return dataclasses.replace(ev, scale=scale, accumulation=0.0, grad_scales=grad_scales)


def _at_least_magnitude(scale: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``scale``, raised to the finite magnitude of the gradient (bounds) where it is smaller."""
    magnitude = np.fmax(np.abs(np.asarray(lo, np.float64)), np.abs(np.asarray(hi, np.float64)))
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0.0)
    return np.fmax(np.asarray(scale, np.float64), magnitude)


class _Cache:
    """Least recently used first out, within ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self.entries: collections.OrderedDict[tuple[str, str], tuple[Oracle, int]] = collections.OrderedDict()

    def get(self, key: tuple[str, str]) -> Oracle | None:
        if key not in self.entries:
            return None
        self.entries.move_to_end(key)
        return self.entries[key][0]

    def put(self, key: tuple[str, str], found: Oracle) -> None:
        self.entries[key] = (found, _nbytes(found))
        self.used += self.entries[key][1]
        while self.used > self.limit and len(self.entries) > 1:
            self.used -= self.entries.popitem(last=False)[1][1]

    def clear(self) -> None:
        self.entries.clear()
        self.used = 0


CACHE = _Cache(CACHE_BYTES)


def oracle(case: Case, dtype: str) -> Oracle:
    """The oracle's evaluation of a case in a dtype (cached)."""
    key = (case.id, dtype)
    found = CACHE.get(key)
    if found is not None:
        return found
    stored = oracle_store.load(case.id, dtype)
    if stored is not None:
        found = Oracle(stored[0], *stored[1])
    else:
        start = time.perf_counter()
        arrays = {k: round_to(v, dtype) for k, v in case.arrays.items()}
        found = Oracle(arrays, *evaluate(case, arrays, dtype=dtype))
        if time.perf_counter() - start > oracle_store.SHARE_SECONDS:
            oracle_store.save(case.id, dtype, found.arrays, found.evaluation, found.error, found.value_dependent)
    CACHE.put(key, found)
    return found


def clear_cache() -> None:
    CACHE.clear()


def _nbytes(o: Oracle) -> int:
    ev = o.evaluation
    arrays = list(o.arrays.values())
    if ev is not None:
        arrays += [ev.value, ev.scale, *ev.grad_scales.values()]
        arrays += [b for lo, hi in ev.grads.values() for b in ((lo,) if lo is hi else (lo, hi))]
    return sum(np.asarray(a).nbytes for a in arrays)


def differentiable(case: Case, o: Oracle) -> tuple[str, ...]:
    """The arguments whose gradient is checked: the catalog's differentiable ones
    that hold real numbers in this case (none when the oracle refuses the input)."""
    if o.error is not None:
        return ()
    return tuple(n for n in catalog.get(case.loss).differentiable
                 if n in o.arrays and np.issubdtype(o.arrays[n].dtype, np.floating))
