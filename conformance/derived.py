"""Edge cases derived from the spec, for every loss (data/special_values.toml).

From the loss's layout, its structures: an empty batch, one element, unbatched
(a scalar, for an elementwise loss), mismatched shapes and a broadcastable one;
from each argument's role, its special values, one per case, in every target
kind the loss accepts (its catalog variants, those that differ only in a float
parameter's value counted once); from each float parameter, its boundaries;
and coincident inputs (input = target, anchor = positive) and tied logits.

The cases are the strategies' own (drawn with pinned sizes from a seed of the
loss's name, so they are the same in every run), with one element changed.
The oracle judges each: a value outside the domain is refused by it, and a
framework must refuse it too. CTC keeps its hand-listed edge cases only (its
lengths and labels are not values one element of which can be replaced).
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .strategies import draw_pinned
from .strategies.shaped import class_axis, dims_of, role_of
from .strategies.values import log_softmax
from .vocab.case import Case
from .vocab.catalog import SAMPLE_WEIGHT, LossSpec

SPECIAL_FILE = Path(__file__).with_name("data") / "special_values.toml"
VARIANT = "edge"
ROWS = ("probability_rows", "log_probability_rows", "log_probabilities")
#: roles whose values two arguments may share (input = target, anchor = positive)
COINCIDENT = ({"prediction", "regression_target", "logits", "real"}, {"probabilities", "binary_target"},
              {"probability_rows"})
REAL = {"prediction", "regression_target", "logits", "real"}


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    with open(SPECIAL_FILE, "rb") as f:
        raw = tomllib.load(f)
    unknown = sorted({v for vs in raw["roles"].values() for v in vs} - set(raw["values"])
                     - {"classes", "ignore_index", "all_ignored"})
    if unknown:
        raise ValueError(f"{SPECIAL_FILE.name}: roles name values it does not define: {', '.join(unknown)}")
    return raw


def cases(spec: LossSpec) -> list[Case]:
    """Every derived edge case of a loss, each once."""
    if spec.layout == "ctc":
        return []
    made = [*structures(spec), *specials(spec), *boundaries(spec), *coincident(spec)]
    return list({c.id: c for c in made}.values())


# -- drawing ---------------------------------------------------------------------
def _sizes(spec: LossSpec, settings: Mapping[str, Any], batch: int | None = None) -> dict[str, Any]:
    pinned = table()["sizes"]
    if spec.layout == "elementwise":
        return {"shape": tuple(pinned["elementwise"]["shape"]) if batch is None else (batch,)}
    if spec.layout == "classification":
        sizes = dict(pinned["classification"])
        return sizes | ({} if batch is None else {"batch": batch})
    sizes = {}
    for letter in dims_of(spec, settings):
        allowed = spec.dims.get(letter, ())
        side = pinned["shaped"]
        sizes[f"dim {letter}"] = side if not allowed or side in allowed else max(allowed)
    if batch is not None and "N" in dims_of(spec, settings):
        sizes["dim N"] = batch
    return sizes


def _drawn(spec: LossSpec, variant: str, reduction: str, batch: int | None = None) -> Case:
    seed = zlib.crc32(f"derived:{spec.name}:{variant}:{reduction}:{batch}".encode())
    return draw_pinned(spec, variant, reduction, _sizes(spec, spec.variant(variant), batch), seed)


def _edge(case: Case, note: str, **changes: Any) -> Case:
    return dataclasses.replace(case, variant=VARIANT, origin="edge", note=f"derived: {note}", **changes)


def _reduction(spec: LossSpec) -> str:
    """Special values are judged term by term where the loss offers that."""
    return "none" if "none" in spec.reductions else spec.reductions[0]


def kinds(spec: LossSpec) -> list[str]:
    """The variants that differ in more than a float parameter's value (target kinds,
    optional arrays, switches such as from_logits): the first of each."""
    seen: dict[tuple, str] = {}
    for name, settings in spec.variants.items():
        key = tuple(sorted((k, repr(v)) for k, v in settings.items()
                           if not (k in spec.parameters and spec.parameters[k].kind == "float")))
        seen.setdefault(key, name)
    return list(seen.values())


# -- structures ------------------------------------------------------------------
def structures(spec: LossSpec) -> Iterator[Case]:
    first = next(iter(spec.variants))
    settings = spec.variant(first)
    batched = spec.layout != "shaped" or "N" in dims_of(spec, settings)
    for reduction in spec.reductions:
        if batched:
            yield _edge(_drawn(spec, first, reduction, 0), f"empty batch ({first})")
            yield _edge(_drawn(spec, first, reduction, 1), f"one element ({first})")
        base = _drawn(spec, first, reduction)
        names = [n for n in base.arrays]
        if spec.layout == "elementwise":
            yield _edge(base, "unbatched: every argument a scalar",
                        arrays={k: v.reshape(-1)[:1].reshape(()) for k, v in base.arrays.items()})
        other = next((n for n in names[1:] if base.arrays[n].ndim), None)
        if other is None:
            continue
        b = base.arrays[other]
        longer = np.concatenate([b, b[..., :1]], axis=-1)
        yield _edge(base, f"mismatched shapes: {other} {list(longer.shape)} for {names[0]} "
                          f"{list(base.arrays[names[0]].shape)}", arrays=dict(base.arrays) | {other: longer})
        if spec.layout == "elementwise":
            x = base.arrays[names[0]]
            yield _edge(base, f"broadcastable shapes: {names[0]} {[x.size, 1]} and {other} {list(b.shape)}",
                        arrays=dict(base.arrays) | {names[0]: x.reshape(-1, 1)})
        elif spec.layout == "shaped" and b.shape[-1] > 1:
            yield _edge(base, f"broadcastable shapes: {other} with its last axis of size 1",
                        arrays=dict(base.arrays) | {other: b[..., :1].copy()})


# -- special values ------------------------------------------------------------------
def specials(spec: LossSpec) -> Iterator[Case]:
    roles, reduction = table()["roles"], _reduction(spec)
    for variant in kinds(spec):
        settings = spec.variant(variant)
        base = _drawn(spec, variant, reduction)
        for name, a in base.arrays.items():
            if settings.get(SAMPLE_WEIGHT) and name != SAMPLE_WEIGHT:
                continue            # the weighted variant adds the weights' specials; the others are the plain's
            role = role_of(spec, settings, name)
            for value in roles.get(role, ()):
                placed = _place(spec, settings, base, name, role, value)
                if placed is None:
                    continue
                arrays, params = placed
                case = _edge(base, f"{name} ({role}) {value} ({variant})",
                             arrays=dict(base.arrays) | {name: arrays}, params=params)
                yield case
                if value == "all_ignored":          # where it matters: a mean of 0 / 0
                    yield from (dataclasses.replace(case, reduction=r) for r in spec.reductions if r != reduction)


def classes_of(spec: LossSpec, settings: Mapping[str, Any], case: Case) -> int:
    """The number of classes C of the case (0 where it has none, or its shapes do not say)."""
    if spec.layout == "classification":
        x = case.arrays.get("input")
        return x.shape[1] if x is not None and x.ndim >= 2 else 0
    for name, shape in spec.shapes.items():
        letters = shape.split()
        if settings.get("batch") is False:
            letters = [x for x in letters if x != "N"]
        a = case.arrays.get(name)
        if "C" in letters and a is not None and a.ndim == len(letters):
            return a.shape[letters.index("C")]
    return 0


def _place(spec: LossSpec, settings: Mapping[str, Any], case: Case, name: str, role: str,
           value: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The argument with ``value`` in its first element (row), and the case's params."""
    a, params = case.arrays[name].copy(), dict(case.params)
    if a.size == 0:
        return None
    if role == "class_indices":
        classes = classes_of(spec, settings, case)
        if value in ("ignore_index", "all_ignored"):
            if "ignore_index" not in spec.parameters:
                return None
            ignored = params.get("ignore_index", spec.parameters["ignore_index"].default)
            if value == "all_ignored":
                a[...] = ignored
            else:
                a.flat[0] = ignored
        else:
            a.flat[0] = -1 if value == "minus_one" else classes
        return a, params
    v = float(table()["values"][value])
    if role not in ROWS:
        a.flat[0] = v
        return a, params
    axis = 1 if spec.layout == "classification" else class_axis(spec, settings, name)
    rows = np.moveaxis(a, axis, -1).copy()
    row = rows.reshape(-1, rows.shape[-1])[0]
    if not _set_row(row, role, value, v):
        return None
    flat = rows.reshape(-1, rows.shape[-1])
    flat[0] = row
    return np.moveaxis(flat.reshape(rows.shape), -1, axis), params


def _set_row(row: np.ndarray, role: str, value: str, v: float) -> bool:
    """The row with ``v`` first, renormalised where the value is inside the domain."""
    rest = row[1:]
    if role == "probability_rows":
        if value == "one":
            row[...] = 0.0
            row[0] = 1.0
        elif value in ("zero", "tiny"):
            if not rest.size:
                return False
            total = rest.sum()
            rest[...] = (rest / total if total > 0 else 1.0 / rest.size) * (1.0 - v)
            row[0] = v
        else:
            row[0] = v
        return True
    if value == "zero":                     # certainty: log 1 and log 0 elsewhere
        row[...] = -math.inf
        row[0] = 0.0
    elif value in ("minus_inf", "minus_huge") and rest.size:
        row[0] = v
        row[1:] = log_softmax(rest, 0)
    else:
        row[0] = v
    return True


# -- parameters ----------------------------------------------------------------------
def boundaries(spec: LossSpec) -> Iterator[Case]:
    smallest = float(table()["parameters"]["smallest_positive"])
    reduction = _reduction(spec)
    for name, p in spec.parameters.items():
        if p.kind != "float" or p.min is None or p.max is None:
            continue
        variant = next((v for v, s in spec.variants.items() if name in s), next(iter(spec.variants)))
        values = [p.min, p.max] + ([smallest] if p.min == 0 else [])
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            values.append(p.default)
        base = _drawn(spec, variant, reduction)
        for value in dict.fromkeys(float(x) for x in values):
            yield _edge(base, f"{name} = {value:g}, a boundary of [{p.min:g}, {p.max:g}] ({variant})",
                        params=dict(base.params) | {name: value})


# -- coincident inputs and ties --------------------------------------------------------
def coincident(spec: LossSpec) -> Iterator[Case]:
    reduction = _reduction(spec)
    for variant in kinds(spec):
        settings = spec.variant(variant)
        base = _drawn(spec, variant, reduction)
        names = [n for n, a in base.arrays.items() if np.issubdtype(a.dtype, np.floating)]
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                a, b = base.arrays[first], base.arrays[second]
                r1, r2 = role_of(spec, settings, first), role_of(spec, settings, second)
                if a.shape == b.shape and any(r1 in g and r2 in g for g in COINCIDENT):
                    yield _edge(base, f"coincident: {second} = {first} ({variant})",
                                arrays=dict(base.arrays) | {second: a.copy()})
        first = names[0] if names else None
        if first and role_of(spec, settings, first) in REAL and classes_of(spec, settings, base) > 1:
            axis = 1 if spec.layout == "classification" else class_axis(spec, settings, first)
            rows = np.moveaxis(base.arrays[first], axis, -1).copy()
            flat = rows.reshape(-1, rows.shape[-1])
            if flat.shape[0]:
                flat[0] = flat[0, 0]
                tied = np.moveaxis(flat.reshape(rows.shape), -1, axis)
                yield _edge(base, f"tied: {first}'s first row all equal ({variant})",
                            arrays=dict(base.arrays) | {first: tied})
