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


@lru_cache(maxsize=1)
def profiles() -> dict[str, Profile]:
    with open(PROFILES_FILE, "rb") as f:
        raw = tomllib.load(f)["profile"]
    return {name: Profile(name=name, examples=p["examples"], dtypes=tuple(p["dtypes"]),
                          description=p["description"], seed=p.get("seed")) for name, p in raw.items()}


def get(name: str) -> Profile:
    try:
        return profiles()[name]
    except KeyError:
        raise UnknownProfile(f"unknown profile {name!r}; known profiles: {', '.join(profiles())}") from None
