"""LossSpec: one catalog entry. data/catalog.toml lists the loss families in run
order; data/catalog/<family>.toml holds each family's losses."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

CATALOG_FILE = Path(__file__).parents[1] / "data" / "catalog.toml"
CATALOG_DIR = Path(__file__).parents[1] / "data" / "catalog"
#: "batchmean" is KL divergence's sum / batch size (torch.nn.KLDivLoss); "weighted_mean"
#: is a sample-weighted sum over the weights' sum (reference/sample_weights.py)
REDUCTIONS = ("none", "sum", "mean", "batchmean", "weighted_mean")
#: the optional argument of per-term weights, and the reduction only it has
SAMPLE_WEIGHT, WEIGHTED_MEAN = "sample_weight", "weighted_mean"
#: the reductions of a sample-weighted variant
WEIGHTED_REDUCTIONS = ("none", "sum", "mean", WEIGHTED_MEAN)


def plain_reduction(reduction: str) -> str:
    """The reduction a sample-weighted one is computed with, of the weighted terms:
    ``weighted_mean`` is a ``mean`` over the weights' sum. ValueError for one a
    sample-weighted variant does not have."""
    if reduction not in WEIGHTED_REDUCTIONS:
        raise ValueError(f"a sample-weighted reduction is one of {', '.join(WEIGHTED_REDUCTIONS)}, got {reduction!r}")
    return "mean" if reduction == WEIGHTED_MEAN else reduction


#: roles of arrays present only where a variant switches them on (``weight = true``)
OPTIONAL_ROLES = ("class_weights", "element_weights", "sample_weights")
OPTIONAL_NAMES = ("weight", "pos_weight", SAMPLE_WEIGHT)
LAYOUTS = ("elementwise", "classification", "shaped", "ctc")
#: variant settings that are neither a parameter nor an argument
VARIANT_KEYS = ("spatial", "batch")


class UnknownLoss(ValueError):
    pass


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # "float" | "int" | "bool" | "choice"
    default: Any
    min: float | None = None
    max: float | None = None
    values: tuple[Any, ...] = ()   # the choices of a "choice" parameter


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
    #: layout "shaped": argument -> shape, dimension letters separated by spaces
    #: ("N C"); "" is a scalar. ``dims``: letter -> the sizes to draw from.
    shapes: Mapping[str, str] = field(default_factory=dict)
    dims: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def optional_arguments(self) -> tuple[str, ...]:
        """Arguments a variant switches on (``weight = true``): the others every case has."""
        return tuple(a for a in self.arguments if any(a in v for v in self.variants.values()))

    def reductions_of(self, variant: str) -> tuple[str, ...]:
        """The reductions of a variant's cells: the loss's, and ``weighted_mean`` where the
        variant has sample weights (which have no 'batchmean': the weights say what counts)."""
        if not self.variants.get(variant, {}).get(SAMPLE_WEIGHT):
            return self.reductions
        return tuple(r for r in self.reductions if r != "batchmean") + (WEIGHTED_MEAN,)

    def case_problem(self, arrays: Mapping[str, Any], params: Mapping[str, Any], reduction: str) -> str | None:
        """What makes a case unfit for this loss (an array it lacks or does not take, a
        parameter it does not have, a reduction it does not offer), or None."""
        missing = [a for a in self.arguments if a not in arrays and a not in self.optional_arguments]
        if missing:
            return f"it has no {', '.join(missing)} array ({self.name} takes {', '.join(self.arguments)})"
        unknown = [a for a in arrays if a not in self.arguments]
        if unknown:
            return f"{self.name} takes no {', '.join(unknown)} array (it takes {', '.join(self.arguments)})"
        foreign = [p for p in params if p not in self.parameters]
        if foreign:
            return (f"{self.name} has no parameter {', '.join(foreign)}"
                    f" (it has: {', '.join(self.parameters) or 'none'})")
        if reduction not in self.reductions and not (reduction == WEIGHTED_MEAN and SAMPLE_WEIGHT in arrays):
            return f"{self.name} has no reduction {reduction!r} (it has {', '.join(self.reductions)})"
        return None

    def variant(self, name: str) -> Mapping[str, Any]:
        try:
            return self.variants[name]
        except KeyError:
            raise UnknownLoss(f"loss {self.name!r} has no variant {name!r}; "
                              f"known: {', '.join(self.variants)}") from None


def _spec(name: str, raw: Mapping[str, Any]) -> LossSpec:
    params = {}
    for p, d in raw.get("parameters", {}).items():
        d = dict(d)
        if "values" in d:
            d["values"] = tuple(d["values"])
        params[p] = Parameter(name=p, **d)
    if raw["layout"] not in LAYOUTS:
        raise ValueError(f"catalog: {name}: unknown layout {raw['layout']!r}; known: {', '.join(LAYOUTS)}")
    for r in raw["reductions"]:
        if r not in REDUCTIONS or r == WEIGHTED_MEAN:
            raise ValueError(f"catalog: {name}: unknown reduction {r!r}")
    # an argument is a role, or a table {role, shape} (layout "shaped")
    arguments = {a: (v if isinstance(v, str) else v["role"]) for a, v in raw["arguments"].items()}
    shapes = {a: v["shape"] for a, v in raw["arguments"].items() if not isinstance(v, str) and "shape" in v}
    for v, settings in raw["variants"].items():
        for key in settings:
            if key not in params and key not in arguments and key not in VARIANT_KEYS:
                raise ValueError(f"catalog: {name}.{v}: {key!r} is neither a parameter nor an argument")
    return LossSpec(
        name=name, family=raw["family"], layout=raw["layout"], summary=raw["summary"],
        arguments=arguments, differentiable=tuple(raw["differentiable"]),
        reductions=tuple(raw["reductions"]), parameters=params,
        variants={k: dict(v) for k, v in raw["variants"].items()}, docs=tuple(raw.get("docs", ())),
        shapes=shapes, dims={k: tuple(v) for k, v in raw.get("dims", {}).items()},
    )


@lru_cache(maxsize=1)
def families() -> tuple[str, ...]:
    """The loss families, in run order (data/catalog.toml): each has a file in
    data/catalog/, and no file there is left out of the list."""
    with open(CATALOG_FILE, "rb") as f:
        listed = tuple(tomllib.load(f)["families"])
    present = {p.stem for p in CATALOG_DIR.glob("*.toml")}
    if set(listed) != present or len(set(listed)) != len(listed):
        raise ValueError(f"catalog: {CATALOG_FILE.name} lists families {sorted(listed)} but {CATALOG_DIR.name}/ "
                         f"holds {sorted(present)}")
    return listed


@lru_cache(maxsize=1)
def catalog() -> dict[str, LossSpec]:
    specs: dict[str, LossSpec] = {}
    for family in families():
        path = CATALOG_DIR / f"{family}.toml"
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        for name, entry in raw.get("loss", {}).items():
            if name in specs:
                raise ValueError(f"catalog: loss {name!r} is defined twice ({path.name})")
            if entry.get("family") != family:
                raise ValueError(f"catalog: {name} in {path.name} says family {entry.get('family')!r}")
            specs[name] = _spec(name, entry)
    return specs


def get(name: str) -> LossSpec:
    specs = catalog()
    try:
        return specs[name]
    except KeyError:
        raise UnknownLoss(f"unknown loss {name!r}; known losses: {', '.join(specs)}") from None
