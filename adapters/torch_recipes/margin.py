"""PyTorch recipes of the margin family: all native in torch.nn.functional."""
from __future__ import annotations

from ..base import Recipe
from ..torch_ops import functional as F

RECIPES = {
    "margin_ranking": Recipe(lambda a, p, r: F().margin_ranking_loss(
        a["input1"], a["input2"], a["target"], reduction=r, **p),
        "torch.nn.functional.margin_ranking_loss"),
}
POLICIES: dict = {}
