"""(to be written) torch recipes of the focal family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
