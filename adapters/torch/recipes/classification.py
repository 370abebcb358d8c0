"""torch recipes of the classification family: native in torch.nn.functional."""
from __future__ import annotations

from ...base import Recipe
from ..ops import functional as F

RECIPES = {
    "cross_entropy": Recipe(lambda a, p, r: F().cross_entropy(
        a["input"], a["target"], weight=a.get("weight"), reduction=r, **p),
        "torch.nn.functional.cross_entropy"),
    "nll": Recipe(lambda a, p, r: F().nll_loss(
        a["input"], a["target"], weight=a.get("weight"), reduction=r, **p),
        "torch.nn.functional.nll_loss"),
}
