"""(to be written) jax recipes of the embedding family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
