"""(to be written) torch recipes of the ranking family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
