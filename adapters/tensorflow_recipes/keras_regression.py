"""(to be written) tensorflow recipes of the keras_regression family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
