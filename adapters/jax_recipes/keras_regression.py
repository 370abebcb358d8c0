"""(to be written) jax recipes of the keras_regression family."""
from __future__ import annotations

RECIPES: dict = {}
POLICIES: dict = {}
