"""(to be written) jax recipes of the hinge family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
