"""tensorflow recipes, one module per loss family of the catalog."""
from __future__ import annotations

from ...families import collect

RECIPES, POLICIES = collect(__name__)
