"""Cases of layout "shaped": every argument has a role (what its values are) and a
shape written with dimension letters ("N C", "N D", "" for a scalar), so one
strategy serves every loss whose arguments are not simply "input and target of
one shape" (ranking pairs, embeddings, multi-label targets, variances...).

A letter is drawn once per case and shared by every argument that names it;
the catalog's ``dims`` lists the sizes a letter may take. A variant with
``batch = false`` drops N everywhere (torch's unbatched inputs), and a variant
that sets an argument to a string gives it that role instead.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from . import shape_groups, values
from ..vocab.catalog import OPTIONAL_NAMES, OPTIONAL_ROLES, LossSpec

DEFAULT_SIDES = {"N": (1, 2, 3, 5), "C": (2, 3, 5), "D": (1, 2, 3, 5)}
OTHER_SIDES = (1, 2, 3, 5)


def dims_of(spec: LossSpec, settings: Mapping[str, Any]) -> list[str]:
    """The dimension letters the loss's shapes use, in first-use order."""
    letters: list[str] = []
    for shape in spec.shapes.values():
        for letter in shape.split():
            if letter not in letters and not (letter == "N" and settings.get("batch") is False):
                letters.append(letter)
    return letters


def shape_of(spec: LossSpec, settings: Mapping[str, Any], name: str, sizes: Mapping[str, int]) -> tuple[int, ...]:
    letters = spec.shapes.get(name, "").split()
    if settings.get("batch") is False:
        letters = [x for x in letters if x != "N"]
    return tuple(sizes[x] for x in letters)


def class_axis(spec: LossSpec, settings: Mapping[str, Any], name: str) -> int:
    """The axis of C in the argument's shape (the last axis when it has none)."""
    letters = spec.shapes.get(name, "").split()
    if settings.get("batch") is False:
        letters = [x for x in letters if x != "N"]
    return letters.index("C") if "C" in letters else -1


def role_of(spec: LossSpec, settings: Mapping[str, Any], name: str) -> str:
    override = settings.get(name)
    return override if isinstance(override, str) else spec.arguments[name]


# -- values by role ----------------------------------------------------------------
def _rows(draw, shape, label, axis):
    raw = values.unit(draw, shape, label)
    if not raw.size:
        return raw
    sums = raw.sum(axis=axis, keepdims=True)
    return np.where(sums > 0, raw / np.where(sums > 0, sums, 1), 1.0 / raw.shape[axis])


def _signs(draw, shape, label, axis):
    return values.fill(draw, shape, label, lambda rng, sh: rng.choice([-1.0, 1.0], sh), st.sampled_from([-1.0, 1.0]))


def _multilabel(draw, shape, label, axis, classes):
    """torch.nn.MultiLabelMarginLoss targets: per row, distinct class indices,
    then -1, then anything (ignored)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label=f"{label} seed"))
    out = np.full(shape, -1, dtype=np.int64)
    for row in np.ndindex(shape[:-1]):
        k = int(rng.integers(0, classes + 1))
        out[row][:k] = rng.permutation(classes)[:k]
        if k + 1 < classes:
            out[row][k + 1:] = rng.integers(0, classes, classes - k - 1)
    return out


def _counts(draw, shape, label, axis):
    return values.fill(draw, shape, label, lambda rng, sh: rng.poisson(2.0, sh),
                 st.sampled_from([0.0, 1.0]) | st.floats(0.0, 10.0, width=32))


def _nonnegative(draw, shape, label, axis):
    mag = draw(st.sampled_from(values.MAGNITUDES), label=f"{label} magnitude")
    return values.fill(draw, shape, label, lambda rng, sh: rng.uniform(0.0, mag, sh),
                 st.sampled_from([0.0, 1.0, mag]) | st.floats(0.0, mag, width=32))


def sample_weights(draw, shape, label, axis=None):
    """Weights of the terms: >= 0, some exactly 0 (a term left out), of any magnitude."""
    return _nonnegative(draw, shape, label, axis)


def _generators() -> dict[str, Callable[..., np.ndarray]]:
    reals = lambda draw, shape, label, axis: values.reals(draw, shape, label)  # noqa: E731
    return {
        "prediction": reals, "regression_target": reals, "logits": reals, "real": reals,
        "probabilities": lambda draw, shape, label, axis: values.unit(draw, shape, label),
        "binary_target": lambda draw, shape, label, axis: values.unit(
            draw, shape, label, hard=draw(st.booleans(), label=f"{label} hard labels")),
        "hard_binary": lambda draw, shape, label, axis: values.unit(draw, shape, label, hard=True),
        "sign_target": _signs,
        "positive": lambda draw, shape, label, axis: values.positive(draw, shape, label),
        "class_weights": lambda draw, shape, label, axis: values.positive(draw, shape, label),
        "element_weights": lambda draw, shape, label, axis: values.positive(draw, shape, label),
        "nonnegative": _nonnegative,
        "sample_weights": sample_weights,
        "counts": _counts,
        "probability_rows": _rows,
        "log_probabilities": lambda draw, shape, label, axis: values.log_softmax(values.reals(draw, shape, label), axis),
        "log_probability_rows": lambda draw, shape, label, axis: values.log_softmax(values.reals(draw, shape, label), axis),
    }


ROLES = ("prediction", "regression_target", "logits", "real", "probabilities", "binary_target",
         "hard_binary", "sign_target", "positive", "class_weights", "element_weights", "nonnegative", "sample_weights",
         "counts", "probability_rows", "log_probabilities", "log_probability_rows",
         "class_indices", "multilabel_indices")


@st.composite
def arrays(draw, spec: LossSpec, settings: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], int]:
    """(arrays, number of classes or 0) for a case of a "shaped" loss. An optional
    argument (weights) is present only when the variant sets it to true."""
    sizes = {x: shape_groups.size(draw, st.sampled_from(spec.dims.get(x, DEFAULT_SIDES.get(x, OTHER_SIDES))),
                                  f"dim {x}") for x in dims_of(spec, settings)}
    classes = sizes.get("C", 0)
    generators = _generators()
    out: dict[str, np.ndarray] = {}
    for name in spec.arguments:
        optional = spec.arguments[name] in OPTIONAL_ROLES or name in OPTIONAL_NAMES
        if optional and not settings.get(name):
            continue
        role, shape = role_of(spec, settings, name), shape_of(spec, settings, name, sizes)
        axis = class_axis(spec, settings, name)
        if role == "class_indices":
            if not classes:
                raise InvalidArgument(f"{spec.name}: class_indices need a C dimension")
            out[name] = values.fill(draw, shape, name, lambda rng, sh: rng.integers(0, classes, sh),
                              st.sampled_from([0, classes - 1])).astype(np.int64)
        elif role == "multilabel_indices":
            out[name] = _multilabel(draw, shape, name, axis, classes or shape[-1])
        elif role in generators:
            out[name] = generators[role](draw, shape, name, axis)
        else:
            raise InvalidArgument(f"{spec.name}: argument {name!r} has role {role!r}; known: {', '.join(ROLES)}")
    return out, classes
