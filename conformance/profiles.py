"""Run profiles (data/profiles.toml)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .vocab.modes import MODES

PROFILES_FILE = Path(__file__).with_name("data") / "profiles.toml"


#: the cells a mode runs on when the profile does not say (conformance/cells.py's sources)
SOURCES = ("corpus", "edge", "document", "generated", "reduction", "large")


class UnknownProfile(ValueError):
    pass


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int
    dtypes: tuple[str, ...]
    description: str
    seed: int | None = None
    search_examples: int = 0                  # cases a worst-case search explores (0: no search)
    search_shrink: int = 0                    # further checks its shrinking may spend
    search_dtypes: tuple[str, ...] = ()       # the dtypes searched
    large_losses: tuple[str, ...] = ()        # losses also checked at LLM-scale shapes (conformance/large.py)
    large_shapes: tuple[tuple[int, int], ...] = ()        # (tokens, classes) on CPU: scaled down
    large_shapes_cuda: tuple[tuple[int, int], ...] = ()   # on a GPU: full size
    database: bool = False                    # keep Hypothesis's example database between runs
    modes: tuple[str, ...] = ()               # execution modes run besides each framework's default
    mode_sources: tuple[str, ...] = ()        # the cells (by source) whose cases are run in them
    mode_examples: int = 0                    # cases per such cell, spread over it (0: every case)
    mode_dtypes: tuple[str, ...] = ()         # in these dtypes

    @property
    def run_seed(self) -> int:
        """The seed a run draws its cases with when none is given: the profile's, else 0."""
        return self.seed or 0


@lru_cache(maxsize=1)
def profiles() -> dict[str, Profile]:
    with open(PROFILES_FILE, "rb") as f:
        raw = tomllib.load(f)["profile"]
    out = {}
    for name, p in raw.items():
        found, large, modes = p.get("search", {}), p.get("large", {}), p.get("modes", {})
        unknown = sorted(set(modes.get("run", ())) - set(MODES))
        if unknown:
            raise ValueError(f"{PROFILES_FILE}: profile {name}: unknown mode(s) {', '.join(unknown)}; "
                             f"known: {', '.join(MODES)}")
        out[name] = Profile(name=name, examples=p["examples"], dtypes=tuple(p["dtypes"]),
                            description=p["description"], seed=p.get("seed"),
                            search_examples=found.get("examples", 0), search_shrink=found.get("shrink", 0),
                            search_dtypes=tuple(found.get("dtypes", ())),
                            large_losses=tuple(large.get("losses", ())),
                            large_shapes=tuple(tuple(x) for x in large.get("shapes", ())),
                            large_shapes_cuda=tuple(tuple(x) for x in large.get("shapes_cuda", ())),
                            database=bool(p.get("database", False)),
                            modes=tuple(modes.get("run", ())), mode_sources=tuple(modes.get("sources", SOURCES)),
                            mode_examples=int(modes.get("examples", 0)),
                            mode_dtypes=tuple(modes.get("dtypes", p["dtypes"])))
    return out


def get(name: str) -> Profile:
    try:
        return profiles()[name]
    except KeyError:
        raise UnknownProfile(f"unknown profile {name!r}; known profiles: {', '.join(profiles())}") from None
