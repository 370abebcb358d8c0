"""Collect a framework's recipes: one module per loss family of the catalog
(``catalog.families()``) in its package (adapters/<framework>/recipes/), each
exporting RECIPES and, where the framework documents a departure from the
mathematics, POLICIES. A framework that has no loss of a family has no module
for it. Importing the modules imports no framework."""
from __future__ import annotations

import importlib
from typing import Any

from conformance.vocab import catalog


def collect(package: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(RECIPES, POLICIES) of every family module of ``package``."""
    recipes: dict[str, Any] = {}
    policies: dict[str, Any] = {}
    for family in catalog.families():
        name = f"{package}.{family}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:       # the module exists and fails to import something
                raise
            continue
        recipes.update(module.RECIPES)
        policies.update(getattr(module, "POLICIES", {}))
    return recipes, policies
