"""tensorflow recipes of the loss families beyond the documents' losses: one module per
family (the families of reference.FAMILY_MODULES), each exporting RECIPES and,
where the framework documents a departure from the mathematics, POLICIES.
Importing this package imports no framework."""
from __future__ import annotations

import importlib
from typing import Any

from reference import FAMILY_MODULES

RECIPES: dict[str, Any] = {}
POLICIES: dict[str, Any] = {}
for _family in FAMILY_MODULES:
    _module = importlib.import_module(f"{__name__}.{_family}")
    RECIPES.update(_module.RECIPES)
    POLICIES.update(getattr(_module, "POLICIES", {}))
