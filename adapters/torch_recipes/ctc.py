"""(to be written) torch recipes of the ctc family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
