"""Cases of layout "ctc" (torch.nn.CTCLoss's arguments).

* ``log_probs`` (role "log_probabilities"): log-softmax over C of reals drawn as
  ``values.reals`` draws them, shape (T, N, C), or (T, C) when the variant
  sets ``batch = false``;
* ``targets``: role "padded_labels", shape (N, S), each row's first
  target-length entries labels other than the blank, the padding after them any
  class (implementations must ignore it); or role "concatenated_labels", the
  rows' labels concatenated, shape (sum(lengths),); unbatched, the target's labels
  (target_length,) (torch reads a 1-D target unpadded);
* ``input_lengths`` in [0, T], mostly T; ``target_lengths`` in [0, S].

Most cases can be aligned: unless Hypothesis draws "impossible allowed" (one case
in four; one in two when the variant sets zero_infinity), a target is shortened
until it fits its input (its length plus one frame per adjacent
repeat, which needs a blank between). The blank is the variant's literal value
(parameters are drawn after the arrays, so a drawn blank could not be avoided).
Sizes come from the catalog's ``dims`` (letters T, N, C, S).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from . import shape_groups, values
from ..vocab.catalog import LossSpec

SIDES = {"T": (3, 8), "N": (1, 3), "C": (2, 5), "S": (2, 4)}
ROLES = {"log_probs": ("log_probabilities",), "targets": ("padded_labels", "concatenated_labels"),
         "input_lengths": ("input_lengths",), "target_lengths": ("target_lengths",)}


def needed_frames(labels: np.ndarray) -> int:
    """Frames an alignment of ``labels`` needs: one per label, one more per adjacent repeat."""
    return int(labels.size + np.count_nonzero(labels[1:] == labels[:-1]))


def _blank(spec: LossSpec, settings: Mapping[str, Any]) -> int:
    blank = settings.get("blank", spec.parameters["blank"].default if "blank" in spec.parameters else 0)
    if not isinstance(blank, int) or isinstance(blank, bool):
        raise InvalidArgument(f"{spec.name}: layout 'ctc' needs a literal blank in the variant, got {blank!r}")
    return blank


def _roles(spec: LossSpec, settings: Mapping[str, Any]) -> dict[str, str]:
    roles = {}
    for name, allowed in ROLES.items():
        if name not in spec.arguments:
            raise InvalidArgument(f"{spec.name}: layout 'ctc' needs an argument {name!r}")
        role = settings.get(name) if isinstance(settings.get(name), str) else spec.arguments[name]
        if role not in allowed:
            raise InvalidArgument(f"{spec.name}: argument {name!r} has role {role!r}; known: {', '.join(allowed)}")
        roles[name] = role
    return roles


#: up to this many sequences, Hypothesis draws each length; beyond, a seed does
DRAWN_LENGTHS = 64


@st.composite
def arrays(draw, spec: LossSpec, settings: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], int]:
    """(arrays, number of classes C) for a case of a "ctc" loss."""
    roles = _roles(spec, settings)
    sizes = {x: shape_groups.size(draw, st.sampled_from(spec.dims.get(x, SIDES[x])), f"dim {x}") for x in SIDES}
    frames, classes, width = sizes["T"], sizes["C"], sizes["S"]
    batched = settings.get("batch") is not False
    n = sizes["N"] if batched else 1
    blank = _blank(spec, settings)
    if not 0 <= blank < classes:
        raise InvalidArgument(f"{spec.name}: blank {blank} is not a class of C = {classes} (catalog dims C)")
    pool = np.array([c for c in range(classes) if c != blank])

    def length_list(label, values, high, full):
        if n <= DRAWN_LENGTHS:
            return draw(st.lists(values, min_size=n, max_size=n), label=label)
        # a reduction case's thousands of sequences: lengths from a drawn seed (as the labels)
        r = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label=f"{label} seed"))
        return np.where(full & (r.random(n) < 0.5), high, r.integers(0, high + 1, n))
    input_lengths = np.array(length_list("input lengths", st.just(frames) | st.integers(0, frames), frames, True),
                             dtype=np.int64)
    target_lengths = np.array(length_list("target lengths", st.integers(0, width), width, False), dtype=np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="labels seed"))
    # few classes make repeats (which need a blank between them) frequent
    rows = pool[rng.integers(0, pool.size, (n, width))]
    pad = rng.integers(0, classes, (n, width))
    # impossible alignments are rarer, except where zero_infinity is there to handle them
    odds = (False, True) if settings.get("zero_infinity") is True else (False, False, False, True)
    if not draw(st.sampled_from(odds), label="impossible allowed"):
        for i in range(n):
            while needed_frames(rows[i, :target_lengths[i]]) > input_lengths[i]:
                target_lengths[i] -= 1
    inside = np.arange(width)[None, :] < target_lengths[:, None]
    padded = np.where(inside, rows, pad).astype(np.int64)
    log_probs = values.log_softmax(values.reals(draw, (frames, n, classes), "log_probs"), -1)
    if roles["targets"] == "concatenated_labels":
        targets = np.concatenate([rows[i, :target_lengths[i]] for i in range(n)]).astype(np.int64)
    else:
        targets = padded
    if not batched:
        # torch reads a 1-D target as the labels themselves: no padding when unbatched
        return {"log_probs": log_probs[:, 0, :], "targets": rows[0, :target_lengths[0]].astype(np.int64),
                "input_lengths": np.array(input_lengths[0]), "target_lengths": np.array(target_lengths[0])}, classes
    return {"log_probs": log_probs, "targets": targets, "input_lengths": input_lengths,
            "target_lengths": target_lengths}, classes
