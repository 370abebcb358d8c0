"""LossSpec: one catalog entry, loaded from data/catalog.toml."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

CATALOG_FILE = Path(__file__).with_name("data") / "catalog.toml"
REDUCTIONS = ("none", "sum", "mean")


class UnknownLoss(ValueError):
    pass


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # "float" | "int"
    default: float | int
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class LossSpec:
    name: str
    family: str
    layout: str
    summary: str
    arguments: Mapping[str, str]
    differentiable: tuple[str, ...]
    reductions: tuple[str, ...]
    parameters: Mapping[str, Parameter]
    variants: Mapping[str, Mapping[str, Any]]
    docs: tuple[str, ...] = field(default=())

    def variant(self, name: str) -> Mapping[str, Any]:
        try:
            return self.variants[name]
        except KeyError:
            raise UnknownLoss(f"loss {self.name!r} has no variant {name!r}; "
                              f"known: {', '.join(self.variants)}") from None


def _spec(name: str, raw: Mapping[str, Any]) -> LossSpec:
    params = {p: Parameter(name=p, **d) for p, d in raw.get("parameters", {}).items()}
    for r in raw["reductions"]:
        if r not in REDUCTIONS:
            raise ValueError(f"catalog: {name}: unknown reduction {r!r}")
    for v, settings in raw["variants"].items():
        for key in settings:
            if key not in params and key not in raw["arguments"] and key not in ("target", "spatial"):
                raise ValueError(f"catalog: {name}.{v}: {key!r} is neither a parameter nor an argument")
    return LossSpec(
        name=name, family=raw["family"], layout=raw["layout"], summary=raw["summary"],
        arguments=dict(raw["arguments"]), differentiable=tuple(raw["differentiable"]),
        reductions=tuple(raw["reductions"]), parameters=params,
        variants={k: dict(v) for k, v in raw["variants"].items()}, docs=tuple(raw.get("docs", ())),
    )


@lru_cache(maxsize=1)
def catalog() -> dict[str, LossSpec]:
    with open(CATALOG_FILE, "rb") as f:
        raw = tomllib.load(f)
    return {name: _spec(name, entry) for name, entry in raw["loss"].items()}


def get(name: str) -> LossSpec:
    specs = catalog()
    try:
        return specs[name]
    except KeyError:
        raise UnknownLoss(f"unknown loss {name!r}; known losses: {', '.join(specs)}") from None
