"""(to be written) torch recipes of the sparse family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
