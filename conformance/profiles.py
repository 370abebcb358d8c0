"""Run profiles (data/profiles.toml)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROFILES_FILE = Path(__file__).with_name("data") / "profiles.toml"


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


@lru_cache(maxsize=1)
def profiles() -> dict[str, Profile]:
    with open(PROFILES_FILE, "rb") as f:
        raw = tomllib.load(f)["profile"]
    out = {}
    for name, p in raw.items():
        found, large = p.get("search", {}), p.get("large", {})
        out[name] = Profile(name=name, examples=p["examples"], dtypes=tuple(p["dtypes"]),
                            description=p["description"], seed=p.get("seed"),
                            search_examples=found.get("examples", 0), search_shrink=found.get("shrink", 0),
                            search_dtypes=tuple(found.get("dtypes", ())),
                            large_losses=tuple(large.get("losses", ())),
                            large_shapes=tuple(tuple(x) for x in large.get("shapes", ())),
                            large_shapes_cuda=tuple(tuple(x) for x in large.get("shapes_cuda", ())),
                            database=bool(p.get("database", False)))
    return out


def get(name: str) -> Profile:
    try:
        return profiles()[name]
    except KeyError:
        raise UnknownProfile(f"unknown profile {name!r}; known profiles: {', '.join(profiles())}") from None
