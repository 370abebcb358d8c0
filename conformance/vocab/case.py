"""Case: the concrete inputs of one loss evaluation, serialisable, with a stable id.

A Case is dtype-free: its float arrays are float64 and the run's dtype axis
rounds them (``dtypes.round_to``), so one case is checked in every dtype on the
same values. Class indices stay int64.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from . import schema
from .generated import generate
from .schema import SchemaError

ORIGINS = ("hypothesis", "search", "edge", "document", "corpus")
#: the most elements an array made by a seeded generator may have when a case is
#: read back: the largest LLM-scale shape of the profiles (2048 x 262144 tokens x
#: classes on a GPU, 4 GiB in float64); a larger shape in a file is refused, not allocated
MAX_GENERATED_ELEMENTS = 2 ** 29
MAX_DIMENSIONS = 8
NON_FINITE = ("nan", "inf", "-inf")

ARRAY = schema.obj({"dtype": schema.one_of("int64", "float64"), "shape": schema.list_of(int)},
                   {"data": list, "generator": schema.obj({"kind": str, "seed": int})})
CASE = schema.obj({"loss": str, "variant": str, "reduction": str, "arrays": schema.map_of(ARRAY)},
                  {"params": dict, "origin": schema.one_of(*ORIGINS), "note": str, "id": str})


def _c_order(a):
    """``a`` in C order (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    return a.copy(order="C") if isinstance(a, np.ndarray) and not a.flags.c_contiguous else a


@dataclass(frozen=True)
class Case:
    loss: str
    variant: str
    reduction: str
    arrays: Mapping[str, np.ndarray]
    params: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "hypothesis"
    note: str = ""
    #: arrays made by a seeded generator (conformance/large.py): name -> spec;
    #: written as the spec, not as the numbers, and rebuilt when read
    generated: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, got {self.origin!r}")
        # A case is its numbers, not their memory layout: in C order, an array read back
        # from JSON (a worker, a resumed run, a corpus) is the array the case was made with,
        # so a check in this process and one in a worker see the same strides.
        object.__setattr__(self, "arrays", {k: _c_order(v) for k, v in self.arrays.items()})

    @functools.cached_property
    def id(self) -> str:
        """Content hash of what is evaluated (not of origin or note); computed once
        (a case's arrays are never modified after it is made)."""
        payload = {k: v for k, v in self.to_json().items() if k not in ("origin", "note", "id")}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return {
            "loss": self.loss, "variant": self.variant, "reduction": self.reduction,
            "arrays": {k: (_encode_generated(v, self.generated[k]) if k in self.generated else encode_array(v))
                       for k, v in sorted(self.arrays.items())},
            "params": dict(sorted(self.params.items())),
            "origin": self.origin, "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "case") -> "Case":
        """The case a JSON object describes; SchemaError naming ``where`` and the field
        when it is not one (wrong types, an array whose data does not fill its shape, a
        generated array beyond ``MAX_GENERATED_ELEMENTS``)."""
        schema.check(data, CASE, where)
        for name, value in data.get("params", {}).items():
            if not isinstance(value, (str, int, float, bool)) or isinstance(value, float) and not math.isfinite(value):
                raise SchemaError(f"{where}: params.{name} must be a number, a string or true/false, "
                                  f"got {json.dumps(value)[:40]}")
        return cls(
            loss=data["loss"], variant=data["variant"], reduction=data["reduction"],
            arrays={k: decode_array(v, f"{where}: arrays.{k}") for k, v in data["arrays"].items()},
            params=dict(data.get("params", {})),
            origin=data.get("origin", "corpus"), note=data.get("note", ""),
            generated={k: v["generator"] for k, v in data["arrays"].items() if "generator" in v},
        )


def _encode_scalar(x: float | int) -> float | int | str:
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)  # 'nan', 'inf', '-inf'
    return x


def encode_array(a: np.ndarray) -> dict[str, Any]:
    """Plain JSON for an array; non-finite floats as the strings 'nan'/'inf'/'-inf'."""
    a = np.asarray(a)
    kind = "int64" if np.issubdtype(a.dtype, np.integer) else "float64"
    flat = a.astype(kind).ravel().tolist()
    return {"dtype": kind, "shape": list(a.shape), "data": [_encode_scalar(x) for x in flat]}


def _encode_generated(a: np.ndarray, spec: Mapping[str, Any]) -> dict[str, Any]:
    kind = "int64" if np.issubdtype(a.dtype, np.integer) else "float64"
    return {"dtype": kind, "shape": list(a.shape), "generator": dict(spec)}


def decode_array(d: Mapping[str, Any], where: str = "array") -> np.ndarray:
    """The array ``encode_array`` wrote (or a generator spec describes); SchemaError
    naming ``where`` for anything else."""
    schema.check(d, ARRAY, where)
    shape = tuple(d["shape"])
    if len(shape) > MAX_DIMENSIONS or any(n < 0 for n in shape):
        raise SchemaError(f"{where}: shape must be at most {MAX_DIMENSIONS} sizes >= 0, got {list(shape)}")
    size = math.prod(shape)
    if "generator" in d:
        if size > MAX_GENERATED_ELEMENTS:
            raise SchemaError(f"{where}: a generated array of {size:,} elements (shape {list(shape)}) is beyond "
                              f"the {MAX_GENERATED_ELEMENTS:,} this suite makes; refused rather than allocated")
        try:
            return generate(d["generator"], shape).astype(d["dtype"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaError(f"{where}: generator: {exc}") from None
    if "data" not in d:
        raise SchemaError(f"{where}: missing data (or generator)")
    data = d["data"]
    if len(data) != size:
        raise SchemaError(f"{where}: {len(data)} data values for shape {list(shape)} ({size} elements)")
    integer = d["dtype"] == "int64"
    for x in data:
        if type(x) is not int and (integer or type(x) is not float and x not in NON_FINITE):
            raise SchemaError(f"{where}: data must be {'integers' if integer else 'numbers or nan/inf/-inf'}, "
                              f"got {json.dumps(x)[:40]}")
    if integer:
        if data and (max(data) >= 2 ** 63 or min(data) < -2 ** 63):
            raise SchemaError(f"{where}: an integer does not fit int64")
        return np.array(data, dtype=np.int64).reshape(shape)
    return np.array([float(x) if type(x) is str else x for x in data], dtype=np.float64).reshape(shape)
