"""(to be written) jax recipes of the focal family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
