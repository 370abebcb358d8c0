"""torch recipes of the regression family: native in torch.nn.functional."""
from __future__ import annotations

from ...base import Recipe
from ..ops import functional as F

RECIPES = {
    "l1": Recipe(lambda a, p, r: F().l1_loss(a["input"], a["target"], reduction=r),
                 "torch.nn.functional.l1_loss"),
    "mse": Recipe(lambda a, p, r: F().mse_loss(a["input"], a["target"], reduction=r),
                  "torch.nn.functional.mse_loss"),
    "smooth_l1": Recipe(lambda a, p, r: F().smooth_l1_loss(a["input"], a["target"], reduction=r, **p),
                        "torch.nn.functional.smooth_l1_loss"),
    "huber": Recipe(lambda a, p, r: F().huber_loss(a["input"], a["target"], reduction=r, **p),
                    "torch.nn.functional.huber_loss"),
}
