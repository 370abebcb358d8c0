"""(to be written) tensorflow recipes of the hinge family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
