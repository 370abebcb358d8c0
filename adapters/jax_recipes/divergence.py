"""(to be written) jax recipes of the divergence family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
