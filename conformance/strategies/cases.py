"""A case of a (loss, variant, reduction), and a cell's cases drawn deterministically.

Every draw is labelled. Values come from roles (catalog ``arguments``), shapes
from the layout, parameters from their domains; a variant fixes what it names.
"""
from __future__ import annotations

import threading
import zlib
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.internal.conjecture import providers

from . import ctc, shape_groups, shaped, values
from ..vocab.case import Case
from ..vocab.catalog import LossSpec

# Hypothesis runs one test at a time per process: the engine's framework threads
# (one per worker process) take turns at generation and at the search.
HYPOTHESIS_LOCK = threading.RLock()


def _param(draw, spec: LossSpec, name: str, setting: Any, classes: int) -> Any:
    p = spec.parameters[name]
    if setting != "draw":
        return setting
    if name == "ignore_index":
        return draw(st.one_of(st.integers(0, classes - 1), st.sampled_from([-100, -1])), label=name)
    if p.kind == "bool":
        return draw(st.booleans(), label=name)
    if p.kind == "choice":
        return draw(st.sampled_from(p.values), label=name)
    if p.kind == "float":
        return draw(st.floats(p.min, p.max, width=32), label=name)
    return draw(st.integers(p.min, p.max), label=name)


@st.composite
def _shapes(draw) -> tuple[int, ...]:
    ndim = draw(st.integers(0, 3), label="ndim")
    return tuple(draw(st.lists(st.sampled_from(values.SIDES), min_size=ndim, max_size=ndim), label="shape"))


@st.composite
def _elementwise(draw, spec: LossSpec, settings: Mapping[str, Any]) -> dict[str, np.ndarray]:
    shape = shape_groups.size(draw, _shapes(), "shape")
    roles = spec.arguments
    arrays: dict[str, np.ndarray] = {}
    for name in ("input", "target"):
        role = roles[name]
        if role in ("prediction", "regression_target", "logits"):
            arrays[name] = values.reals(draw, shape, name)
        elif role == "probabilities":
            arrays[name] = values.unit(draw, shape, name)
        elif role == "binary_target":
            arrays[name] = values.unit(draw, shape, name, hard=draw(st.booleans(), label="hard labels"))
        else:
            raise InvalidArgument(f"{spec.name}: role {role!r} has no elementwise strategy")
    if settings.get("weight"):
        arrays["weight"] = values.positive(draw, shape, "weight")
    if settings.get("pos_weight"):
        arrays["pos_weight"] = values.positive(draw, shape[-1:] if shape else (), "pos_weight")
    if settings.get("sample_weight"):
        arrays["sample_weight"] = shaped.sample_weights(draw, shape, "sample_weight")
    return arrays


@st.composite
def _classification(draw, spec: LossSpec, settings: Mapping[str, Any]) -> tuple[dict, int]:
    n = shape_groups.size(draw, st.sampled_from(values.SIDES), "batch")
    classes = shape_groups.size(draw, st.sampled_from(values.SIDES[1:]), "classes")
    spatial = settings.get("spatial", False)
    ndim = spatial if isinstance(spatial, int) and not isinstance(spatial, bool) else (
        shape_groups.size(draw, st.integers(1, 2), "spatial dims") if spatial else 0)
    extra = tuple(shape_groups.size(draw, st.lists(st.sampled_from(values.SIDES[:3]), min_size=ndim, max_size=ndim),
                                    "spatial"))
    logits = values.reals(draw, (n, classes) + extra, "logits")
    arrays = {"input": values.log_softmax(logits, 1) if spec.arguments["input"] == "log_probabilities" else logits}
    if settings.get("target") == "probabilities":
        raw = values.unit(draw, (n, classes) + extra, "target")
        sums = raw.sum(axis=1, keepdims=True)
        normalise = draw(st.booleans(), label="normalise rows")
        arrays["target"] = np.where(sums > 0, raw / np.where(sums > 0, sums, 1), raw) if normalise else raw
    else:
        arrays["target"] = values.fill(draw, (n,) + extra, "target", lambda rng, sh: rng.integers(0, classes, sh),
                                 st.sampled_from([0, classes - 1])).astype(np.int64)
    if settings.get("weight"):
        arrays["weight"] = values.positive(draw, (classes,), "weight")
    if settings.get("sample_weight"):
        arrays["sample_weight"] = shaped.sample_weights(draw, (n,) + extra, "sample_weight")
    return arrays, classes


#: the strategies of the layouts that have a module of their own: (arrays, classes)
LAYOUTS = {"shaped": shaped.arrays, "ctc": ctc.arrays}


@st.composite
def cases(draw, spec: LossSpec, variant: str, reduction: str) -> Case:
    """Cases of ``spec`` in ``variant`` with ``reduction``."""
    if reduction not in spec.reductions_of(variant):
        raise InvalidArgument(f"{spec.name} has no reduction {reduction!r}")
    shape_groups.start_case()
    settings = spec.variant(variant)
    if spec.layout == "elementwise":
        arrays, classes = draw(_elementwise(spec, settings)), 0
    elif spec.layout == "classification":
        arrays, classes = draw(_classification(spec, settings))
    else:
        arrays, classes = draw(LAYOUTS[spec.layout](spec, settings))
    params = {name: _param(draw, spec, name, settings[name], classes)
              for name in spec.parameters if name in settings}
    if "ignore_index" in params and classes and "target" in arrays:
        # make ignored rows likely: put the ignored index into some targets
        t = arrays["target"]
        mask = values.fill(draw, t.shape, "ignored rows", lambda rng, sh: rng.random(sh) < 0.3,
                     st.sampled_from([1.0])).astype(bool)
        arrays["target"] = np.where(mask, params["ignore_index"], t)
    return Case(loss=spec.name, variant=variant, reduction=reduction, arrays=arrays, params=params)


@contextmanager
def without_local_constants() -> Iterator[None]:
    """Hypothesis mixes in constants mined from every *imported* local module,
    so the same seed draws different cases depending on what happens to be
    imported (the CLI and the pytest matrix import different modules). The
    suite promises identical cases for identical seeds, so generation runs
    with that pool empty. (Private Hypothesis API: absent, nothing is changed.)"""
    original = getattr(providers, "_get_local_constants", None)
    cache = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
    if original is None or cache is None:
        yield
        return
    providers._get_local_constants = providers.Constants
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


def draw_cases(spec: LossSpec, variant: str, reduction: str, *, count: int, seed_value: int,
               group: int = shape_groups.GROUP) -> list[Case]:
    """``count`` cases drawn deterministically from ``seed_value`` (no database, no
    shrinking), in groups of ``group`` that share a shape (``shape_groups``)."""
    firsts, sizes = _drawn(spec, variant, reduction, shape_groups.leaders(count, group), seed_value, None)
    out = firsts[:1]
    for g, (first, pinned) in enumerate(zip(firsts[1:], sizes[1:])):
        out.append(first)
        rest = min(group, count - len(out) + 1) - 1
        if rest > 0:   # each run starts with Hypothesis's simplest values: not one per group
            members = _drawn(spec, variant, reduction, rest + 1, zlib.crc32(f"{seed_value}:group {g}".encode()),
                             pinned)[0]
            out += members[1:]
    unique = {c.id: c for c in out}
    return list(unique.values())


def draw_pinned(spec: LossSpec, variant: str, reduction: str, sizes: dict[str, Any], seed_value: int) -> Case:
    """A case with the sizes labelled in ``sizes`` pinned (the rest drawn): the
    second of a seeded run, whose values are not Hypothesis's simplest."""
    return _drawn(spec, variant, reduction, 2, seed_value, sizes)[0][-1]


def _drawn(spec: LossSpec, variant: str, reduction: str, count: int, seed_value: int,
           pinned: dict[str, Any] | None) -> tuple[list[Case], list[dict[str, Any]]]:
    """One Hypothesis run: ``count`` cases and the sizes of each."""
    drawn: list[Case] = []
    plan = shape_groups.Plan(pinned)

    @seed(seed_value)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(cases(spec, variant, reduction))
    def collect(case: Case) -> None:
        drawn.append(case)
        plan.drawn()

    with HYPOTHESIS_LOCK, without_local_constants(), shape_groups.grouped(plan):
        collect()
    return drawn, plan.sizes
