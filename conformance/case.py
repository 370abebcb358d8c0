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

ORIGINS = ("hypothesis", "search", "edge", "document", "corpus")


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
    def from_json(cls, data: Mapping[str, Any]) -> "Case":
        return cls(
            loss=data["loss"], variant=data["variant"], reduction=data["reduction"],
            arrays={k: decode_array(v) for k, v in data["arrays"].items()},
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


def decode_array(d: Mapping[str, Any]) -> np.ndarray:
    if d["dtype"] not in ("int64", "float64"):
        raise ValueError(f"array dtype must be int64 or float64, got {d['dtype']!r}")
    if "generator" in d:
        from .large import generate
        return generate(d["generator"], tuple(d["shape"])).astype(d["dtype"])
    data = [float(x) if isinstance(x, str) else x for x in d["data"]]
    return np.array(data, dtype=d["dtype"]).reshape(d["shape"])
