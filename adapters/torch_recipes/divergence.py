"""(to be written) torch recipes of the divergence family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
