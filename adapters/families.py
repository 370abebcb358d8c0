"""Collect a framework's recipes of the loss families beyond the documents' losses: one
module per family (reference.FAMILY_MODULES) in a package such as adapters/torch_recipes/,
each exporting RECIPES and, where the framework documents a departure from the
mathematics, POLICIES. Importing the modules imports no framework."""
from __future__ import annotations

import importlib
from typing import Any

from reference import FAMILY_MODULES


def collect(package: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(RECIPES, POLICIES) of every family module of ``package``."""
    recipes: dict[str, Any] = {}
    policies: dict[str, Any] = {}
    for family in FAMILY_MODULES:
        module = importlib.import_module(f"{package}.{family}")
        recipes.update(module.RECIPES)
        policies.update(getattr(module, "POLICIES", {}))
    return recipes, policies
