"""PyTorch recipes of the sparse family: torch has no sparsemax loss, so both are
composed from torch ops (the ``api`` strings are the migration guide).

The multiclass loss is a ``torch.autograd.Function``: its forward computes
sparsemax by sorting, its backward is the closed-form gradient p - onehot(y)
(the loss is a Fenchel-Young loss). Differentiating through sort/cumsum would give
the same numbers where every score is finite, but not the limits at infinite scores.
"""
from __future__ import annotations

import functools
from typing import Any

from ...base import Recipe
from ..ops import Params, reduce as _reduce, Tensors, torch_module

INF = float("inf")


def _sparse_plus(z: Any) -> Any:
    """0 (z <= -1), (z + 1)^2 / 4 (|z| < 1), z (z >= 1); the quadratic branch sees 0
    where it is not used (no inf * 0 in the backward), NaN where z is NaN."""
    torch = torch_module()
    zero = torch.zeros_like(z)
    inner = torch.where(z.abs() >= 1, zero, z)
    return torch.where(z <= -1, zero, torch.where(z >= 1, z, (inner + 1) ** 2 / 4))


def _sparsemax(a: Tensors, p: Params, r: str) -> Any:
    torch = torch_module()
    x, y = a["logits"], a["labels"]
    if x.shape != y.shape:
        raise ValueError(f"logits shape {tuple(x.shape)} and labels shape {tuple(y.shape)} differ")
    if bool(((y != 0) & (y != 1) & ~torch.isnan(y)).any()):
        raise ValueError("labels must be 0 or 1")
    # + 0 * y: a NaN label is NaN in the value and the gradient (y != 0 alone takes it for 1)
    return _reduce(_sparse_plus(torch.where(y != 0, -x, x) + 0.0 * y), r)


def _sparsemax_rows(z: Any) -> tuple[Any, Any]:
    """(sparsemax of each row, the rows shifted by their maximum), by sorting; a row
    whose maximum is +-inf puts its mass evenly on the entries equal to it."""
    torch = torch_module()
    m = z.max(dim=1, keepdim=True).values
    minus_inf = torch.full_like(z, -INF)
    d = torch.where(torch.isinf(m), torch.where(z == m, torch.zeros_like(z), minus_inf), z - m)
    u = torch.sort(d, dim=1, descending=True).values
    cums = u.cumsum(dim=1)
    j = torch.arange(1, z.shape[1] + 1, dtype=z.dtype, device=z.device)
    k = (1 + j * u > cums).sum(dim=1, keepdim=True).clamp(min=1)
    tau = (cums.gather(1, k - 1) - 1) / k.to(z.dtype)
    p = (d - tau).clamp(min=0)
    return torch.where(torch.isnan(z).any(dim=1, keepdim=True), torch.full_like(z, float("nan")), p), d


@functools.cache
def _loss_function() -> Any:
    torch = torch_module()

    class MulticlassSparsemaxLoss(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, z: Any, y: Any) -> Any:
            p, d = _sparsemax_rows(z)
            d_y = d.gather(1, y[:, None])[:, 0]
            pd = (p * torch.where(p > 0, d, torch.zeros_like(d))).sum(dim=1)
            ctx.save_for_backward(p, y)
            return -d_y + pd + (1 - (p * p).sum(dim=1)) / 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> tuple[Any, None]:
            p, y = ctx.saved_tensors
            onehot = torch.zeros_like(p).scatter_(1, y[:, None], 1.0)
            return g[:, None] * (p - onehot), None
    return MulticlassSparsemaxLoss


def _multiclass_sparsemax(a: Tensors, p: Params, r: str) -> Any:
    z, y = a["scores"], a["labels"]
    if z.ndim != 2 or y.shape != z.shape[:1]:
        raise ValueError(f"scores must be (N, C) and labels (N,); got {tuple(z.shape)}, {tuple(y.shape)}")
    if bool(((y < 0) | (y >= z.shape[1])).any()):
        raise ValueError(f"labels must lie in [0, {z.shape[1]})")
    return _reduce(_loss_function().apply(z, y), r)


RECIPES = {
    "sparsemax": Recipe(_sparsemax, "composed: z = torch.where(y != 0, -x, x); torch.where(z <= -1, 0, "
                        "torch.where(z >= 1, z, (z + 1)**2 / 4)) with z replaced by 0 inside the "
                        "quadratic where |z| >= 1 (no inf * 0 in the backward); labels must be 0 or 1 (NaN propagates) "
                        "(torch has no sparsemax loss)", "composed"),
    "multiclass_sparsemax": Recipe(
        _multiclass_sparsemax,
        "composed: a torch.autograd.Function; forward: d = z - max(z), u = sort(d, descending), "
        "k = #(1 + j u_j > cumsum(u)_j), tau = (cumsum(u)_k - 1) / k, p = clamp(d - tau, min=0), "
        "loss = -d_y + sum(p * d) + (1 - sum(p^2)) / 2; backward: p - one_hot(y) "
        "(torch has no sparsemax loss)", "composed"),
}
POLICIES: dict = {}
