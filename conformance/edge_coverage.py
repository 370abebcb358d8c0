"""Which special values, structures, parameter boundaries and coincident inputs
a loss's cases met, read from the cases themselves (any origin: generated,
hand-listed, derived, documents), in the terms of data/special_values.toml.
Used by ``list LOSS`` and the report's edge-coverage table."""
from __future__ import annotations

import collections
import math
from typing import Iterable, Mapping

import numpy as np

from . import derived
from .strategies.shaped import role_of
from .vocab import catalog
from .vocab.case import Case
from .vocab.catalog import LossSpec

STRUCTURES = ("empty batch", "one element", "unbatched", "mismatched", "broadcastable")


INTEGER_ROLES = ("class_indices", "multilabel_indices", "padded_labels", "concatenated_labels",
                 "input_lengths", "target_lengths")


def _settings(spec: LossSpec, case: Case) -> Mapping:
    return spec.variants.get(case.variant, {})


def roles_of(spec: LossSpec, name: str) -> list[str]:
    """Every role an argument takes in the loss's variants (an edge case does not
    say which variant it was made from: its values say which role applies)."""
    if name not in spec.arguments:
        return []
    # weights are present only where a variant switches them on (strategies/shaped.py)
    optional = spec.arguments[name] in catalog.OPTIONAL_ROLES or name in catalog.OPTIONAL_NAMES
    return list(dict.fromkeys(role_of(spec, v, name) for v in spec.variants.values() if not optional or v.get(name)))


def tags(case: Case) -> set[str]:
    """What the case holds: ``structure:<name>``, ``<argument>:<value name>``,
    ``param:<name>=<boundary>``, ``coincident``, ``tied``."""
    spec = catalog.get(case.loss)
    out = {f"structure:{s}" for s in _structures(spec, case)}
    values = derived.table()["values"]
    for name, a in case.arrays.items():
        floating = np.issubdtype(a.dtype, np.floating)
        roles = [r for r in roles_of(spec, name) if (r in INTEGER_ROLES) != floating]
        if floating:
            for value in dict.fromkeys(v for r in roles for v in derived.table()["roles"].get(r, ())):
                v = float(values[value])
                if (np.isnan(a).any() if math.isnan(v) else (a == v).any()):
                    out.add(f"{name}:{value}")
        elif "class_indices" in roles and a.size:
            out |= {f"{name}:{v}" for v in _index_specials(spec, case, a)}
    for name, p in spec.parameters.items():
        if p.kind == "float" and p.min is not None and name in case.params:
            value = case.params[name]
            for label, edge in (("min", p.min), ("max", p.max), ("default", p.default),
                                ("smallest positive", derived.table()["parameters"]["smallest_positive"])):
                if isinstance(edge, (int, float)) and value == edge:
                    out.add(f"param:{name}={label}")
    if _tied(spec, case):
        out.add("tied")
    floats = [a for a in case.arrays.values() if np.issubdtype(a.dtype, np.floating) and a.size]
    if any(a.shape == b.shape and np.array_equal(a, b) for i, a in enumerate(floats) for b in floats[i + 1:]):
        out.add("coincident")
    return out


def _tied(spec: LossSpec, case: Case) -> bool:
    """A row of the first argument with classes, all its C > 1 values equal (a tie)."""
    name = next(iter(case.arrays), None)
    if name is None or not np.issubdtype(case.arrays[name].dtype, np.floating):
        return False
    a = case.arrays[name]
    if spec.layout == "classification":
        axis = 1
    else:
        letters = spec.shapes.get(name, "").split()
        if len(letters) == a.ndim + 1:
            letters = [x for x in letters if x != "N"]
        if "C" not in letters or len(letters) != a.ndim:
            return False
        axis = letters.index("C")
    if a.ndim <= axis or a.shape[axis] < 2:
        return False
    rows = np.moveaxis(a, axis, -1)
    return bool(np.any(np.all(rows == rows[..., :1], axis=-1)))


def _index_specials(spec: LossSpec, case: Case, a: np.ndarray) -> set[str]:
    classes = derived.classes_of(spec, _settings(spec, case), case) if case.arrays else 0
    found = set()
    if (a == -1).any():
        found.add("minus_one")
    if classes and (a >= classes).any():
        found.add("classes")
    if "ignore_index" in spec.parameters:
        ignored = case.params.get("ignore_index", spec.parameters["ignore_index"].default)
        hit = a == ignored
        if hit.any():
            found.add("ignore_index")
        if hit.all():
            found.add("all_ignored")
    return found


def _structures(spec: LossSpec, case: Case) -> set[str]:
    arrays = case.arrays
    found = set()
    if any(a.size == 0 for a in arrays.values()):
        found.add("empty batch")
    first = next(iter(arrays.values()), None)
    if first is None:
        return found
    if spec.layout == "elementwise":
        shapes = {a.shape for n, a in arrays.items() if n in ("input", "target")}
        if first.ndim == 0:
            found.add("unbatched")
        elif first.shape[0] == 1:
            found.add("one element")
        if len(shapes) > 1:
            try:
                np.broadcast_shapes(*shapes)
                found.add("broadcastable")
            except ValueError:
                found.add("mismatched")
        return found
    x, letters = first, spec.shapes.get(next(iter(arrays)), "").split()
    if spec.layout == "shaped" and "N" in letters and x.ndim == len(letters) - 1:
        found.add("unbatched")          # N dropped (torch's unbatched form)
        letters = [x for x in letters if x != "N"]
    sizes: dict[str, set[int]] = collections.defaultdict(set)
    if spec.layout == "classification":
        x, t = arrays.get("input"), arrays.get("target")
        if x is not None and x.ndim >= 1 and x.shape[0] == 1:
            found.add("one element")
        if x is not None and t is not None and x.ndim >= 2 and t.shape != x.shape[:1] + x.shape[2:] \
                and t.shape != x.shape:
            found.add("mismatched")
        return found
    unbatched = "unbatched" in found
    for name, a in arrays.items():
        letters = [x for x in spec.shapes.get(name, "").split() if not (unbatched and x == "N")]
        if len(letters) == a.ndim:
            for letter, n in zip(letters, a.shape):
                sizes[letter].add(n)
    if sizes.get("N") == {1}:
        found.add("one element")
    for letter, ns in sizes.items():
        if len(ns) > 1:
            found.add("broadcastable" if 1 in ns and len(ns) == 2 else "mismatched")
    return found


def met(cases: Iterable[Case]) -> dict[str, collections.Counter]:
    """Per loss, how many cases met each tag."""
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for case in cases:
        out[case.loss].update(tags(case))
    return out


def wanted(spec: LossSpec) -> list[str]:
    """Every tag the spec calls for (what a loss should meet)."""
    out = [f"structure:{s}" for s in STRUCTURES
           if not (s == "unbatched" and spec.layout != "elementwise"
                   and not any(v.get("batch") is False for v in spec.variants.values()))
           and not (s == "broadcastable" and spec.layout == "classification")]
    roles = derived.table()["roles"]
    for name in spec.arguments:
        for role in roles_of(spec, name):
            for value in roles.get(role, ()):
                if value in ("ignore_index", "all_ignored") and "ignore_index" not in spec.parameters:
                    continue
                out.append(f"{name}:{value}")
    for name, p in spec.parameters.items():
        if p.kind == "float" and p.min is not None:
            out += [f"param:{name}=min", f"param:{name}=max"]
    derivable = set().union(*(tags(c) for c in derived.cases(spec))) if spec.layout != "ctc" else set()
    out += [t for t in ("coincident", "tied") if t in derivable]
    return list(dict.fromkeys(out))


def lines(spec: LossSpec, counts: collections.Counter) -> list[str]:
    """Readable rows: each group of tags, what was met (with case counts) and what not."""
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for tag in dict.fromkeys([*wanted(spec), *sorted(counts)]):
        group, _, name = tag.partition(":") if ":" in tag else (tag, "", tag)
        n = counts.get(tag, 0)
        groups[group].append(f"{name} {n}" if n else f"{name} -")
    return [f"  {group:<14} {', '.join(items)}" for group, items in groups.items()]
