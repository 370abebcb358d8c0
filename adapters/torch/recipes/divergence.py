"""PyTorch recipes of the divergence family: KLDivLoss, PoissonNLLLoss and
GaussianNLLLoss are native in torch.nn.functional; optax's generalized KL
divergence is composed from F.kl_div's elementwise terms. PoissonNLLLoss's Stirling
term and eps, and GaussianNLLLoss's clamp of the variance (with its straight-through
gradient), are documented departures from the mathematics: policies."""
from __future__ import annotations

import math
from typing import Any

from ...base import Policy, Recipe
from ..ops import functional as F, Params, reduce as _reduce, Tensors, torch_module

DOCS = "https://pytorch.org/docs/stable/generated/"


def _generalized_kl(a: Tensors, p: Params, r: str) -> Any:
    x, t = a["input"], a["target"]
    if x.shape != t.shape:
        raise ValueError(f"input shape {tuple(x.shape)} and target shape {tuple(t.shape)} differ")
    return _reduce(F().kl_div(x, t, reduction="none") + torch_module().exp(x) - t, r)


GENERALIZED_API = ("composed: F.kl_div(input, target, reduction='none') + torch.exp(input) - target, "
                   "then .sum() / .mean() / .sum() / N (torch has no generalized KL divergence)")

RECIPES = {
    "kl_div": Recipe(lambda a, p, r: F().kl_div(a["input"], a["target"], reduction=r, **p),
                     "torch.nn.functional.kl_div(input, target, reduction, log_target)"),
    "generalized_kl_divergence": Recipe(_generalized_kl, GENERALIZED_API, "composed"),
    "convex_kl_divergence": Recipe(_generalized_kl, GENERALIZED_API, "composed"),
    "poisson_nll": Recipe(lambda a, p, r: F().poisson_nll_loss(a["input"], a["target"], reduction=r, **p),
                          "torch.nn.functional.poisson_nll_loss(input, target, log_input, full, eps=eps, "
                          "reduction=reduction)"),
    "gaussian_nll": Recipe(lambda a, p, r: F().gaussian_nll_loss(a["input"], a["target"], a["var"],
                                                                 reduction=r, **p),
                           "torch.nn.functional.gaussian_nll_loss(input, target, var, full, eps, reduction)"),
    "gaussian_nll_homoscedastic": Recipe(
        lambda a, p, r: F().gaussian_nll_loss(a["input"], a["target"], a["var"], reduction=r, **p),
        "torch.nn.functional.gaussian_nll_loss(input, target, var, full, eps, reduction), var without "
        "the input's last dimension"),
}

_VAR_CLAMP = Policy(
    knobs={"var_clamp": True, "var_gradient": "straight_through"},
    citation=(DOCS + "torch.nn.GaussianNLLLoss.html ('eps (float, optional): value used to clamp var (see note "
              "below), for stability'; the loss 0.5 * (log(max(var, eps)) + (input - target)^2 / max(var, eps)); "
              "Note: 'The clamping of var is ignored with respect to autograd, and so the gradients are "
              "unaffected by it'); torch/nn/functional.py, gaussian_nll_loss: 'with torch.no_grad(): "
              "var.clamp_(min=eps)'"),
    summary="var clamped to max(var, eps) with the case's eps, the clamp invisible to autograd: where "
            "var < eps the value is that at eps and the gradient w.r.t. var that of the unclamped formula "
            "at eps, not 0")

POLICIES = {
    "poisson_nll": Policy(
        knobs={"stirling": (-math.inf, 1.0), "rate_eps": True},
        citation=(DOCS + "torch.nn.PoissonNLLLoss.html ('full (bool, optional): whether to compute full loss, "
                  "i. e. to add the Stirling approximation term target*log(target) - target + "
                  "0.5*log(2*pi*target)'; 'The approximation is used for target values more than 1. For targets "
                  "less or equal to 1 zeros are added to the loss.'; 'eps (float, optional): Small value to avoid "
                  "evaluation of log(0) when log_input = False': the loss input - target*log(input+eps))"),
        summary="full adds the Stirling approximation y log y - y + 0.5 log(2 pi y) where y > 1 (0 where "
                "y <= 1) in place of log(y!); log_input=False computes x - y log(x + eps) with the case's eps"),
    "gaussian_nll": _VAR_CLAMP,
    "gaussian_nll_homoscedastic": _VAR_CLAMP,
}
