"""torch recipes of the loss families beyond the documents' losses, one module per family."""
from __future__ import annotations

from ..families import collect

RECIPES, POLICIES = collect(__name__)
