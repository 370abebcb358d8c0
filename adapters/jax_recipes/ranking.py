"""(to be written) jax recipes of the ranking family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
