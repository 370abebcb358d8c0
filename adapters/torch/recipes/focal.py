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
from ..ops import functional as F, Params, reduce as _reduce, safe_product, Tensors, times, torch_module


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


def _focal_of_logits(x: Any, y: Any, gamma: float) -> Any:
    """(1 - p_t)^gamma * the cross-entropy of logits, elementwise.

    ce = y softplus(-x) + (1 - y) softplus(x) from F.logsigmoid (softplus(x) =
    -logsigmoid(-x)): F.binary_cross_entropy_with_logits computes (1 - y) x + max(-x, 0)
    + log(exp(-max) + exp(-x - max)), which rounds a small softplus(x) (x << 0, y = 0)
    away (finding torch-bce-with-logits-loses-softplus-of-a-negative-logit) and is
    0 * inf = NaN at infinite logits. The factor (1 - p_t)^gamma = exp(gamma log(1 - p_t)),
    log(1 - p_t) = logaddexp(log y + logsigmoid(-x), log1p(-y) + logsigmoid(x)); at an
    infinite logit it is its limit (1 - y at +inf, y at -inf, to the power gamma) and
    constant: its derivative tends to 0 faster than the cross-entropy grows, so the
    gradient there is f dce/dx (f is 1 - y or y to the gamma for a soft label, not 1)."""
    torch, f_ = torch_module(), F()
    ce = times(y, -f_.logsigmoid(x)) + times(1.0 - y, -f_.logsigmoid(-x))
    infinite_x = torch.isinf(x)
    xs = torch.where(infinite_x, torch.zeros_like(x), x)
    if gamma == 0:                                           # plain BCE: 0^0 = 1
        return ce
    log_u = torch.logaddexp(torch.log(y) + f_.logsigmoid(-xs), torch.log1p(-y) + f_.logsigmoid(xs))
    factor = torch.exp(gamma * log_u)                       # finite x: log_u > -inf
    limit = torch.where(x > 0, 1.0 - y, y) ** gamma          # u at x = +inf, -inf
    factor = torch.where(infinite_x, limit.detach(), factor)
    # where ce is infinite the factor (positive there) is held constant: no 0 * inf
    infinite = torch.isinf(ce)
    return torch.where(infinite, factor.detach() * ce, factor * torch.where(infinite, torch.zeros_like(ce), ce))


def _binary_focal(a: Tensors, p: Params, r: str) -> Any:
    torch, f_ = torch_module(), F()
    x, y = a["input"], a["target"]
    _check_shapes(x, y)
    _check_unit("target", y)
    gamma, ls, alpha = float(p.get("gamma", 2.0)), float(p.get("label_smoothing", 0.0)), p.get("alpha")
    if ls:
        y = y * (1.0 - ls) + 0.5 * ls
    if p.get("from_logits", True):
        terms = _focal_of_logits(x, y, gamma)
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


def _masked_table(values: Any, fill: float) -> Any:
    """(..., C) -> (..., C, C): row c holds the values with its own class c set to fill."""
    torch = torch_module()
    classes = values.shape[-1]
    eye = torch.eye(classes, dtype=torch.bool, device=values.device)
    return values.unsqueeze(-2).expand(*values.shape[:-1], classes, classes).masked_fill(eye, fill)


def _softmax_parts(x: Any) -> tuple[Any, Any]:
    """(log p, log(1 - p)) over the last axis. log(1 - p_c) = logsumexp_{j != c} x_j -
    logsumexp x, of x less its (finite) row maximum (-inf for the class of a +inf logit);
    log p_c = log1p(-(1 - p_c)) for a dominant class (p_c > 1/2), where F.log_softmax's
    x_c - logsumexp x rounds the small log to 0 (an infinite weight then makes 0 * inf),
    F.log_softmax otherwise."""
    torch, f_ = torch_module(), F()
    top = x.amax(dim=-1, keepdim=True)
    xs = x - torch.where(torch.isfinite(top), top, torch.zeros_like(top))    # both logsumexps near 0
    log_u = torch.logsumexp(_masked_table(xs, float("-inf")), dim=-1) - torch.logsumexp(xs, dim=-1, keepdim=True)
    dominant = log_u < -0.6931471805599453
    safe_u = torch.where(dominant, log_u, torch.full_like(log_u, -1.0))
    return torch.where(dominant, torch.log1p(-torch.exp(safe_u)), f_.log_softmax(x, dim=-1)), log_u


@functools.cache
def _focal_log_terms() -> Any:
    """h_c = (1 - p_c)^gamma log p_c, p = softmax(x) over the last axis, with the exact
    backward dh_c/dx_j = (delta_cj - p_j) H_c, H_c = (1 - p_c)^gamma - gamma (1 - p_c)^(gamma - 1)
    p_c log p_c, summed as grad_j = G_j (1 - p_j) - p_j sum_{c != j} G_c (G_c = g_c H_c, each
    product 0 where a factor is 0: the limits p log p -> 0 and u^(gamma - 1) log(1 - u) -> 0).
    Autograd through log_softmax and a logsumexp table adds two terms of opposite sign
    (inf - inf with an infinite class weight), multiplies a rounded w_j - p_j ~ 1e-8 by
    log p_c (1e22 at a logit of -1e30) and 0 by inf at a -inf logit."""
    torch = torch_module()

    class FocalLogTerms(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, gamma: float) -> Any:
            log_p, log_u = _softmax_parts(x)
            factor = torch.ones_like(log_u) if gamma == 0 else torch.exp(gamma * log_u)
            ctx.save_for_backward(log_p, log_u, factor)
            ctx.gamma = gamma
            return safe_product(factor, log_p)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            log_p, log_u, factor = ctx.saved_tensors
            gamma = ctx.gamma
            p, u = torch.exp(log_p), torch.exp(log_u)
            # v = -gamma u^(gamma - 1) p log p: 0 where p = 0 or log p = 0 (the limits), from
            # the log domain where u^(gamma - 1) over- or underflows (gamma < 1, u -> 0)
            nan = torch.isnan(log_p)
            silent = (p == 0) | (log_p == 0) | nan
            safe_log_p = torch.where(silent, torch.full_like(log_p, -1.0), log_p)
            safe_log_u = torch.where(silent, torch.zeros_like(log_u), log_u)
            power = torch.exp((gamma - 1.0) * safe_log_u)
            linear = gamma * power * (torch.exp(safe_log_p) * -safe_log_p)
            logged = gamma * torch.exp((gamma - 1.0) * safe_log_u + safe_log_p + torch.log(-safe_log_p))
            v = torch.where(torch.isfinite(power) & (power > 0), linear, logged)
            v = torch.where(nan, log_p, torch.where(silent, torch.zeros_like(v), v))
            big_g = safe_product(grad, factor + v)
            others = _masked_table(big_g, 0.0).sum(-1)               # sum over c != j
            return safe_product(big_g, u) - safe_product(p, others), None
    return FocalLogTerms.apply


def _categorical_of_logits(x: Any, weight: Any, q: Any, gamma: float) -> Any:
    """-sum_c a_c q_c (1 - p_c)^gamma log p_c per row, from logits (a_c q_c = 0 silences
    its term). Half precision is computed in float32 (as torch's CPU softmax accumulates):
    in float16 a probability of 2e-9 or the log of a dominant class, -4e-11, is 0, and an
    infinite class weight times it is 0 * inf."""
    torch = torch_module()
    wide = x.dtype in (torch.float16, torch.bfloat16)
    if wide:
        x, q = x.float(), q.float()
        weight = weight.float() if torch.is_tensor(weight) else weight
    out = -times(weight * q, _focal_log_terms()(x, gamma)).sum(-1)
    return out


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
        out = _categorical_of_logits(x, weight, q, gamma)
        return _reduce(out.to(x.dtype), r)
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
        "composed: from_logits: -(y F.logsigmoid(x) + (1 - y) F.logsigmoid(-x)) (0 * inf = 0) * "
        "exp(gamma * logaddexp(log y + F.logsigmoid(-x), log1p(-y) + F.logsigmoid(x))), its limit at "
        "infinite logits (F.binary_cross_entropy_with_logits rounds a small softplus away); probabilities: "
        "-(y log p + (1 - y) log(1 - p)) * (y (1 - p) + (1 - y) p) ** gamma (0 log 0 = 0); "
        "y <- y (1 - ls) + ls / 2; * (alpha y + (1 - alpha)(1 - y)) when alpha is given "
        "(torchvision.ops.sigmoid_focal_loss's (1 - p_t) ** gamma of probabilities is NaN-prone for gamma < 1)",
        "composed"),
    "categorical_focal": Recipe(
        _categorical_focal,
        "composed: -sum(a * q * exp(gamma * log(1 - p)) * log p, -1) (0 * inf = 0), log(1 - p_c) = "
        "torch.logsumexp of x_j over j != c (a (C, C) masked table) - torch.logsumexp(x) with its exact "
        "backward (torch.autograd.Function), log p = log1p(-(1 - p)) for p > 1/2, else F.log_softmax; "
        "probabilities: "
        "-sum(a q (1 - p) ** gamma log p); q = (1 - ls) y + ls / C, a = weight or alpha",
        "composed"),
    "poly1_cross_entropy": Recipe(
        _poly1,
        "composed: F.cross_entropy(x, y, reduction='none') (probability target) + "
        "epsilon * (y * (1 - F.softmax(x, -1))).sum(-1)", "composed"),
}
POLICIES: dict = {}
