"""(to be written) torch recipes of the embedding family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
