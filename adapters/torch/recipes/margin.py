"""PyTorch recipes of the margin family: all native in torch.nn.functional. Every
catalog parameter is the keyword of the same name; an optional ``weight`` (class
weights) is passed as ``weight=`` or left at None.

multi_margin_loss and multilabel_margin_loss have CPU kernels for float and double
only (AT_DISPATCH_FLOATING_TYPES in aten/src/ATen/native/LossMultiMargin.cpp and
LossMultiLabelMargin.cpp: "not implemented for 'Half'"); their claimed dtypes say
so, and the half-precision refusals are reported as unsupported.
"""
from __future__ import annotations

from ...base import Recipe
from ..ops import functional as F

RECIPES = {
    "margin_ranking": Recipe(lambda a, p, r: F().margin_ranking_loss(
        a["input1"], a["input2"], a["target"], reduction=r, **p),
        "torch.nn.functional.margin_ranking_loss"),
    "hinge_embedding": Recipe(lambda a, p, r: F().hinge_embedding_loss(
        a["input"], a["target"], reduction=r, **p),
        "torch.nn.functional.hinge_embedding_loss(input, target, margin=margin)"),
    "soft_margin": Recipe(lambda a, p, r: F().soft_margin_loss(a["input"], a["target"], reduction=r),
                          "torch.nn.functional.soft_margin_loss(input, target)"),
    "multilabel_soft_margin": Recipe(lambda a, p, r: F().multilabel_soft_margin_loss(
        a["input"], a["target"], weight=a.get("weight"), reduction=r),
        "torch.nn.functional.multilabel_soft_margin_loss(input, target, weight=weight)"),
    "multilabel_margin": Recipe(lambda a, p, r: F().multilabel_margin_loss(
        a["input"], a["target"], reduction=r),
        "torch.nn.functional.multilabel_margin_loss(input, target)", dtypes=("float64", "float32")),
    "multi_margin": Recipe(lambda a, p, r: F().multi_margin_loss(
        a["input"], a["target"], weight=a.get("weight"), reduction=r, **p),
        "torch.nn.functional.multi_margin_loss(input, target, p=p, margin=margin, weight=weight)",
        dtypes=("float64", "float32")),
}
POLICIES: dict = {}
