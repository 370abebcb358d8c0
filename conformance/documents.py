"""The source documents' worked examples: what each states, and a verdict on it.

A stated value is judged at the precision it is printed with: "1.3133" claims
+-5e-5, "0.0833333358168602" claims +-5e-17. Verdicts:

  confirmed     within half a unit of the last printed digit of the oracle
                (or: the document says the call fails and the oracle refuses it)
  over-precise  beyond its printed precision, but within the rounding error a
                computation in the document's dtype may make (float32 noise
                printed as significant digits)
  wrong         neither: the statement contradicts the mathematics (or the
                oracle refuses inputs the document computed a value from, or
                the reverse)
  no-claim      the document prints no value for this example
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import literal
from .vocab.case import Case
from .vocab.dtypes import eps

DOCUMENTS_FILE = Path(__file__).with_name("data") / "documents.toml"
VERDICTS = ("confirmed", "over-precise", "wrong", "no-claim")

TRANSFORMS = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "log_softmax": lambda x: x - np.log(np.exp(x - x.max(axis=-1, keepdims=True)).sum(
        axis=-1, keepdims=True)) - x.max(axis=-1, keepdims=True),
}


@dataclass(frozen=True)
class Example:
    case: Case
    source: str
    section: str
    dtype: str
    quote: str
    stated: tuple[str, ...] | None      # flattened printed values, "?" = not stated
    stated_error: str | None
    stated_precision: float | None      # overrides the printed precision

    def precision(self, text: str) -> float:
        """Half a unit of the last printed digit of ``text``."""
        if self.stated_precision is not None:
            return self.stated_precision
        digits = len(text.split(".")[1]) if "." in text else 0
        return 0.5 * 10.0 ** -digits


@dataclass(frozen=True)
class DocVerdict:
    verdict: str
    detail: str


def _example(raw: Mapping[str, Any]) -> Example:
    arrays = literal.arrays(raw)
    if "transform" in raw:
        arrays["input"] = TRANSFORMS[raw["transform"]](arrays["input"])
    case = Case(loss=raw["loss"], variant="document", reduction=raw["reduction"], arrays=arrays,
                params=dict(raw.get("params", {})), origin="document",
                note=f"{raw['source']} § {raw['section']}")
    stated = raw.get("stated")
    return Example(case=case, source=raw["source"], section=raw["section"], dtype=raw["dtype"],
                   quote=raw["quote"],
                   stated=tuple(str(s) for s in np.array(stated, dtype=object).ravel()) if stated else None,
                   stated_error=raw.get("stated_error"), stated_precision=raw.get("stated_precision"))


@lru_cache(maxsize=1)
def _data() -> Mapping[str, Any]:
    with open(DOCUMENTS_FILE, "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=1)
def examples() -> tuple[Example, ...]:
    return tuple(_example(raw) for raw in _data()["example"])


def title(source: str) -> str:
    """A source document's title (its file name when the data gives none)."""
    return _data().get("sources", {}).get(source, source)


def for_loss(loss: str) -> list[Case]:
    return [e.case for e in examples() if e.case.loss == loss]


def judge(example: Example, oracle_value: np.ndarray | None, oracle_scale: np.ndarray | None,
          oracle_error: str | None, k: float) -> DocVerdict:
    """Judge the document's statement against the oracle (inputs in the document's dtype)."""
    if example.stated_error is not None:
        if oracle_error is not None:
            return DocVerdict("confirmed", f"the call fails, and the oracle refuses it: {oracle_error}")
        return DocVerdict("wrong", f"the document says the call fails, but the mathematics gives "
                                   f"{_fmt(oracle_value)}")
    if example.stated is None:
        return DocVerdict("no-claim", "the document prints no value")
    if oracle_error is not None:
        return DocVerdict("wrong", f"the document states {', '.join(example.stated)}, but the inputs lie "
                                   f"outside the loss's domain: {oracle_error}")
    values = np.asarray(oracle_value, dtype=np.float64).ravel()
    scales = np.broadcast_to(np.asarray(oracle_scale, dtype=np.float64), np.shape(oracle_value)).ravel()
    if len(values) != len(example.stated):
        return DocVerdict("wrong", f"the document states {len(example.stated)} values; the loss has {len(values)}")
    worst = "confirmed"
    notes = []
    for text, v, s in zip(example.stated, values, scales):
        if text == "?":
            continue
        diff, half_unit = abs(float(text) - v), example.precision(text)
        if diff <= half_unit + 4 * np.finfo(np.float64).eps * abs(v):
            continue
        if diff <= half_unit + k * eps(example.dtype) * s:
            worst = "wrong" if worst == "wrong" else "over-precise"
            notes.append(f"{text} is {diff:.3g} from the exact {v:.17g}: beyond the ±{half_unit:.0e} its digits "
                         f"claim, within {example.dtype} rounding")
        else:
            worst = "wrong"
            notes.append(f"{text} is {diff:.3g} from the exact {v:.17g} (printed precision ±{half_unit:.0e})")
    return DocVerdict(worst, "; ".join(notes) or "every stated digit agrees with the oracle")


def _fmt(value: np.ndarray | None) -> str:
    return np.array2string(np.asarray(value), precision=6) if value is not None else "nothing"
