"""torch recipes of the binary family: native in torch.nn.functional; BCE's
documented log clamp is a policy."""
from __future__ import annotations

import numpy as np

from ...base import Policy, Recipe
from ..ops import functional as F

DOCS = "https://pytorch.org/docs/stable/generated/"

RECIPES = {
    "bce": Recipe(lambda a, p, r: F().binary_cross_entropy(
        a["input"], a["target"], weight=a.get("weight"), reduction=r),
        "torch.nn.functional.binary_cross_entropy"),
    "bce_with_logits": Recipe(lambda a, p, r: F().binary_cross_entropy_with_logits(
        a["input"], a["target"], weight=a.get("weight"), pos_weight=a.get("pos_weight"), reduction=r),
        "torch.nn.functional.binary_cross_entropy_with_logits"),
}

POLICIES = {
    "bce": Policy(
        # EPSILON is `constexpr float EPSILON = 1e-12;`: a float, 9.99999996e-13.
        knobs={"log_floor": -100.0, "grad_floor": float(np.float32(1e-12))},
        citation=DOCS + "torch.nn.BCELoss.html ('BCELoss clamps its log function outputs to be "
                 "greater than or equal to -100'); aten/src/ATen/native/Loss.cpp "
                 "(constexpr float EPSILON = 1e-12; binary_cross_entropy_backward: "
                 "grad * (x - y) / max((1 - x) * x, EPSILON))",
        summary="log clamped at -100; backward divides by max(x(1-x), 1e-12)"),
}
