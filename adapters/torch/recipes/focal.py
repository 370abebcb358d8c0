"""PyTorch recipes of the focal family: torch has no focal or poly loss (torchvision's
sigmoid_focal_loss is not a torch API and is not installed), so each is composed.

The compositions are the migration guide: they compute the focal factor from the
log domain (log-sigmoid / log-softmax), as optax does, because the usual
``(1 - p_t) ** gamma`` of probabilities loses 1 - p_t to rounding for confident
predictions and gives NaN gradients there for gamma < 1 (0 * inf).
"""
from __future__ import annotations

import functools
from typing import Any

from ...base import Recipe
from ..ops import functional as F, Params, reduce as _reduce, Tensors, torch_module


def _check_unit(name: str, t: Any) -> None:
    """The composed recipes refuse what the mathematics refuses (NaN passes)."""
    if bool(((t < 0) | (t > 1)).any()):
        raise ValueError(f"{name} must lie in [0, 1]")


def _check_shapes(x: Any, y: Any, ndims: tuple[int, ...] | None = None) -> None:
    if x.shape != y.shape:
        raise ValueError(f"input shape {tuple(x.shape)} and target shape {tuple(y.shape)} differ")
    if ndims is not None and x.dim() not in ndims:
        raise ValueError(f"input must be (C,) or (N, C) with classes last, got {tuple(x.shape)}")


@functools.cache
def _coef_times_log() -> Any:
    """coef * fac * log(p) with 0 where coef = 0 (0 log 0 = 0) and exact partials:
    d/dcoef = fac log p (-inf at p = 0), d/dfac and d/dp = 0 where coef = 0 (no 0 * inf)."""
    torch = torch_module()

    class CoefTimesLog(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, coef: Any, fac: Any, p: Any) -> Any:
            ctx.save_for_backward(coef, fac, p)
            zero = coef == 0
            return torch.where(zero, torch.zeros_like(p), coef * fac * torch.log(torch.where(zero, torch.ones_like(p), p)))

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            coef, fac, p = ctx.saved_tensors
            zero = coef == 0
            log_p = torch.log(p)
            safe_p = torch.where(zero, torch.ones_like(p), p)
            nothing = torch.zeros_like(p)
            return (grad * fac * log_p, torch.where(zero, nothing, grad * coef * torch.log(safe_p)),
                    torch.where(zero, nothing, grad * coef * fac / safe_p))
    return CoefTimesLog.apply


def _binary_focal(a: Tensors, p: Params, r: str) -> Any:
    torch, f_ = torch_module(), F()
    x, y = a["input"], a["target"]
    _check_shapes(x, y)
    _check_unit("target", y)
    gamma, ls, alpha = float(p.get("gamma", 2.0)), float(p.get("label_smoothing", 0.0)), p.get("alpha")
    if ls:
        y = y * (1.0 - ls) + 0.5 * ls
    if p.get("from_logits", True):
        ce = f_.binary_cross_entropy_with_logits(x, y, reduction="none")
        # log(1 - p_t) = log(y sigma(-x) + (1 - y) sigma(x)), from log-sigmoids
        log_u = torch.logaddexp(torch.log(y) + f_.logsigmoid(-x), torch.log1p(-y) + f_.logsigmoid(x))
        factor = torch.exp(gamma * log_u)
    else:
        _check_unit("input", x)
        u = y * (1.0 - x) + (1.0 - y) * x                      # 1 - p_t, no cancellation
        positive = u > 0
        factor = torch.where(positive, torch.where(positive, u, torch.ones_like(u)) ** gamma,
                             torch.full_like(u, 0.0 ** gamma))
        coef_log = _coef_times_log()
        one = torch.ones_like(x)
        ce = -(coef_log(y, one, x) + coef_log(1.0 - y, one, 1.0 - x))
    # an infinite ce (p = 0 or 1 against a label it excludes) is the loss whatever the
    # (positive, maybe underflowed) factor, and its pole the gradient's limit: no 0 * inf,
    # no +-inf of the factor's own term
    infinite = torch.isinf(ce)
    terms = torch.where(infinite, ce, factor * torch.where(infinite, torch.zeros_like(ce), ce))
    if alpha is not None:
        terms = (alpha * y + (1.0 - alpha) * (1.0 - y)) * terms
    return _reduce(terms, r)


def _categorical_focal(a: Tensors, p: Params, r: str) -> Any:
    torch, f_ = torch_module(), F()
    x, y = a["input"], a["target"]
    _check_shapes(x, y, (1, 2))
    _check_unit("target", y)
    classes = x.shape[-1]
    gamma, ls = float(p.get("gamma", 2.0)), float(p.get("label_smoothing", 0.0))
    q = y if not ls else (1.0 - ls) * y + ls / classes
    weight = a["weight"] if "weight" in a else float(p.get("alpha", 1.0))
    if p.get("from_logits", True):
        log_p = f_.log_softmax(x, dim=-1)
        # log(1 - p_c) = logsumexp_{j != c} log p_j: the (C, C) table with its diagonal masked
        eye = torch.eye(classes, dtype=torch.bool, device=x.device)
        others = log_p.unsqueeze(-2).expand(*log_p.shape[:-1], classes, classes).masked_fill(eye, float("-inf"))
        factor = torch.exp(gamma * torch.logsumexp(others, dim=-1))
        return _reduce(-(weight * q * factor * log_p).sum(-1), r)
    _check_unit("input", x)
    u = 1.0 - x
    positive = u > 0
    factor = torch.where(positive, torch.where(positive, u, torch.ones_like(u)) ** gamma,
                         torch.full_like(u, 0.0 ** gamma))
    factor = torch.where(x == 0, factor.detach(), factor)   # log 0: dce/dp's pole is the limit
    return _reduce(-_coef_times_log()(weight * q, factor, x).sum(-1), r)


def _poly1(a: Tensors, p: Params, r: str) -> Any:
    f_ = F()
    x, y = a["input"], a["target"]
    _check_shapes(x, y, (1, 2))
    _check_unit("target", y)
    ce = f_.cross_entropy(x, y, reduction="none")
    poly = (y * (1.0 - f_.softmax(x, dim=-1))).sum(-1)
    return _reduce(ce + float(p.get("epsilon", 2.0)) * poly, r)


RECIPES = {
    "binary_focal": Recipe(
        _binary_focal,
        "composed: from_logits: F.binary_cross_entropy_with_logits(x, y, reduction='none') * "
        "exp(gamma * logaddexp(log y + F.logsigmoid(-x), log1p(-y) + F.logsigmoid(x))); probabilities: "
        "-(y log p + (1 - y) log(1 - p)) * (y (1 - p) + (1 - y) p) ** gamma (0 log 0 = 0); "
        "y <- y (1 - ls) + ls / 2; * (alpha y + (1 - alpha)(1 - y)) when alpha is given "
        "(torchvision.ops.sigmoid_focal_loss's (1 - p_t) ** gamma of probabilities is NaN-prone for gamma < 1)",
        "composed"),
    "categorical_focal": Recipe(
        _categorical_focal,
        "composed: -sum(a * q * exp(gamma * log(1 - p)) * F.log_softmax(x, -1), -1), log(1 - p_c) = "
        "torch.logsumexp of log p_j over j != c (a (C, C) masked table); probabilities: "
        "-sum(a q (1 - p) ** gamma log p); q = (1 - ls) y + ls / C, a = weight or alpha",
        "composed"),
    "poly1_cross_entropy": Recipe(
        _poly1,
        "composed: F.cross_entropy(x, y, reduction='none') (probability target) + "
        "epsilon * (y * (1 - F.softmax(x, -1))).sum(-1)", "composed"),
}
POLICIES: dict = {}
