"""Known findings (data/findings.toml): discrepancies the suite has found and
recorded, each with a reproducer. The pytest matrix marks a cell whose only
failures are explained here as xfail (with the finding's id); anything else
fails. A finding is never a reason to loosen a tolerance.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import catalog
from .case import Case
from .records import Record
from .dtypes import round_to
from .modes import MODES

#: how a finding names the framework's plain call in ``modes``
DEFAULT_MODE = "default"

FINDINGS_FILE = Path(__file__).parents[1] / "data" / "findings.toml"
FINDINGS_DIR = Path(__file__).parents[1] / "data" / "findings"     # one file per loss family


@dataclass(frozen=True)
class Finding:
    id: str
    framework: str
    loss: tuple[str, ...]               # the TOML may name one loss or a list
    outcome: str
    summary: str
    reproducer: str
    checks: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    detail_contains: str = ""           # in the record's detail or the framework's error text
    detail_lacks: str = ""              # not in it (e.g. "expected nan": a NaN the mathematics asks for)
    max_error_eps: float | None = None  # an accuracy finding explains errors up to this size
    at_input: tuple[float, ...] = ()    # the input at the worst element is one of these (NaN allowed)
    input_within: tuple[float, ...] = ()  # or lies in this [low, high] (an argument window of an inaccurate op)
    modes: tuple[str, ...] = ()         # only in these execution modes ("default": the plain call)
    #: a non-finite value somewhere (in an input, or in the expected or plain result) comes
    #: back as NaN where the expected or plain result is not NaN: spread, not local
    spreads_nonfinite: bool = False
    #: the worst element's sample weight is 0 (any weight, for a reduced value): a term
    #: the weights leave out
    zero_weight: bool = False
    #: the worst element's sample weight is positive and below 2^-100 (its products with
    #: derivatives below 2^-26 are subnormal: flushed to 0 where the CPU flushes)
    tiny_weight: bool = False
    #: the upstream reports (issue or pull-request URLs) of this behaviour, where one is known
    upstream: tuple[str, ...] = ()

    def explains(self, record: Record, case: Case | None = None) -> bool:
        text = f"{record.detail} {record.raised or ''}"
        error = record.error_eps
        return (record.framework == self.framework and record.loss in self.loss
                and record.outcome == self.outcome
                and (not self.checks or record.check in self.checks)
                and (not self.variants or record.variant in self.variants)
                and (not self.dtypes or record.dtype in self.dtypes)
                and (not self.modes or (record.mode or DEFAULT_MODE) in self.modes)
                and self.detail_contains in text
                and not (self.detail_lacks and self.detail_lacks in text)
                and (self.max_error_eps is None or (isinstance(error, (int, float)) and error <= self.max_error_eps))
                and (not self.at_input or self._input_matches(record, case))
                and (not self.input_within or self._input_within(record, case))
                and (not self.spreads_nonfinite or _spreads_nonfinite(record, case))
                and (not self.zero_weight or _weight_is(record, case, lambda w: w == 0))
                and (not self.tiny_weight or _weight_is(record, case, _tiny)))

    def _input_matches(self, record: Record, case: Case | None) -> bool:
        """Whether the input at the record's worst element is one of ``at_input``."""
        values = _inputs_at(record, case)
        return values is not None and any(
            np.any(values == v) or (math.isnan(v) and np.isnan(values).any()) for v in self.at_input)

    def _input_within(self, record: Record, case: Case | None) -> bool:
        """Whether the input at the record's worst element lies in ``input_within``."""
        values = _inputs_at(record, case)
        low, high = self.input_within
        return values is not None and bool(np.any((values >= low) & (values <= high)))


def _tiny(w: np.ndarray) -> np.ndarray:
    return (w > 0) & (w < 2.0 ** -100)


def _weight_is(record: Record, case: Case | None, which) -> bool:
    """``which`` holds for the case's sample weight at the record's worst element (the
    weight of the term that element belongs to), or for any weight of a reduced value."""
    w = None if case is None else case.arrays.get("sample_weight")
    if w is None or record.at is None:
        return False
    w = np.asarray(w, np.float64)
    at = tuple(record.at)
    if at == () or w.ndim == 0:
        return bool(which(w).any())
    if catalog.get(record.loss).layout == "classification" and len(at) == w.ndim + 1:
        at = at[:1] + at[2:]                     # (N, C, d...) -> the term (N, d...)
    try:
        return bool(which(w[at[:w.ndim]]))
    except IndexError:
        return False


def _spreads_nonfinite(record: Record, case: Case | None) -> bool:
    """NaN in the result where the reference (the plain call's for a mode comparison, the
    oracle's otherwise) is not NaN, with a non-finite value to spread: in the reference, in
    one of the case's inputs, or an intermediate an input at the edge of the dtype's range
    makes one (forward mode's 0 * inf over the zero entries of a tangent)."""
    reference = record.plain if record.check.startswith("mode:") else record.expected
    if not reference or not record.actual:
        return False
    want = np.asarray([float(v) for v in reference["data"]], np.float64)
    got = np.asarray([float(v) for v in record.actual["data"]], np.float64)
    if want.shape != got.shape:
        return False
    source = not np.isfinite(want).all() or (case is not None and any(
        _at_the_range_edge(np.asarray(a), record.dtype) for a in case.arrays.values()))
    return bool(source and (np.isnan(got) & ~np.isnan(want)).any())


def _at_the_range_edge(a: np.ndarray, dtype: str) -> bool:
    """A non-finite element, or one whose square overflows or underflows the dtype (an
    intermediate that becomes inf or 0: a norm of 1e30, a norm of 1e-38)."""
    if not np.issubdtype(a.dtype, np.floating) or a.size == 0:
        return False
    info = np.finfo(np.float16 if dtype == "float16" else np.float64 if dtype == "float64" else np.float32)
    x = np.abs(a.astype(np.float64))
    with np.errstate(invalid="ignore"):
        return bool(not np.isfinite(x).all() or (x > np.sqrt(float(info.max))).any()
                    or ((x > 0) & (x < np.sqrt(float(info.tiny)))).any())


def _inputs_at(record: Record, case: Case | None) -> np.ndarray | None:
    """The input at the record's worst element, as the framework got it (rounded
    to the dtype); for a reduced value (index ``()`` of a non-scalar input), every
    input element. None without the case or the element: a finding that needs
    them explains nothing."""
    if case is None or record.at is None:
        return None
    first = case.arrays.get("input", next(iter(case.arrays.values()), None))
    if first is None:
        return None
    x = round_to(np.asarray(first, dtype=np.float64), record.dtype)
    at = tuple(record.at)
    try:
        return x.ravel() if at == () else np.asarray([x[at]])
    except (IndexError, TypeError):
        return None


@lru_cache(maxsize=1)
def findings() -> tuple[Finding, ...]:
    raw = []
    for path in [FINDINGS_FILE, *sorted(FINDINGS_DIR.glob("*.toml"))]:
        with open(path, "rb") as f:
            raw += tomllib.load(f).get("finding", [])
    out = []
    for row in raw:
        row = dict(row)
        if row["loss"] == "*":                  # every loss of the catalog
            row["loss"] = tuple(catalog.catalog())
        row["loss"] = (row["loss"],) if isinstance(row["loss"], str) else tuple(row["loss"])
        for key in ("checks", "variants", "dtypes", "modes", "upstream"):
            row[key] = tuple(row.get(key, ()))
        row["at_input"] = tuple(float(v) for v in row.get("at_input", ()))
        row["input_within"] = tuple(float(v) for v in row.get("input_within", ()))
        if row["input_within"] and len(row["input_within"]) != 2:
            raise ValueError(f"finding {row['id']}: input_within is [low, high]")
        unknown = sorted(set(row["modes"]) - set(MODES) - {DEFAULT_MODE})
        if unknown:
            raise ValueError(f"finding {row['id']}: unknown mode(s) {', '.join(unknown)}; known: "
                             f"{DEFAULT_MODE}, {', '.join(MODES)}")
        links = [u for u in row["upstream"] if not str(u).startswith("https://")]
        if links:
            raise ValueError(f"finding {row['id']}: upstream holds URLs (https://...), not {links}")
        out.append(Finding(**row))
    return tuple(out)


def explain(record: Record, case: Case | None = None) -> Finding | None:
    return next((f for f in findings() if f.explains(record, case)), None)


def by_id(finding_id: str | None) -> Finding | None:
    return next((f for f in findings() if f.id == finding_id), None)
