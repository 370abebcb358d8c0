"""PyTorch recipes of the divergence family: KLDivLoss, PoissonNLLLoss and
GaussianNLLLoss are native in torch.nn.functional; optax's generalized KL
divergence is composed from F.kl_div's elementwise terms."""
from __future__ import annotations

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

_STRAIGHT_THROUGH = Policy(
    knobs={"var_gradient": "straight_through"},
    citation=(DOCS + "torch.nn.GaussianNLLLoss.html (Note: 'The clamping of var is ignored with respect "
              "to autograd, and so the gradients are unaffected by it'); torch/nn/functional.py, "
              "gaussian_nll_loss: 'with torch.no_grad(): var.clamp_(min=eps)'"),
    summary="the clamp max(var, eps) is invisible to autograd: where var < eps the gradient w.r.t. var "
            "is that of the unclamped formula at eps, not 0")

POLICIES = {"gaussian_nll": _STRAIGHT_THROUGH, "gaussian_nll_homoscedastic": _STRAIGHT_THROUGH}
