"""PyTorch recipes of the ranking family: torch has no listwise softmax loss, so it is
composed from torch ops (the ``api`` string is the migration guide)."""
from __future__ import annotations

import functools
from typing import Any

from ...base import Recipe
from ..ops import Params, Tensors, torch_module


@functools.cache
def _times() -> Any:
    """a * b with 0 * (+-inf) = 0 (an item with no weight contributes nothing, also at
    log p = -inf) but 0 * NaN = NaN, and the exact derivatives: d/da = b (also where
    a = 0), d/db = a (0 where a = 0, not 0 * inf)."""
    torch = torch_module()

    class Times(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: Any, b: Any) -> Any:
            ctx.save_for_backward(a, b)
            return torch.where((a == 0) & ~torch.isnan(b), torch.zeros_like(b), a * b)

        @staticmethod
        def backward(ctx: Any, g: Any) -> tuple[Any, Any]:
            a, b = ctx.saved_tensors
            return g * b, torch.where(a == 0, torch.zeros_like(g), g * a)
    return Times.apply


def _ranking_softmax(a: Tensors, p: Params, r: str) -> Any:
    torch = torch_module()
    s, y = a["logits"], a["labels"]
    for name in ("labels", "where", "weights"):
        if name in a and a[name].shape != s.shape:
            raise ValueError(f"{name} shape {tuple(a[name].shape)} differs from logits {tuple(s.shape)}")
    valid = a["where"] != 0 if "where" in a else torch.ones_like(s, dtype=torch.bool)
    q = y * a["weights"] if "weights" in a else y
    q = torch.where(valid, q, torch.zeros_like(q))
    log_p = torch.log_softmax(torch.where(valid, s, torch.full_like(s, -float("inf"))), dim=-1)
    terms = -torch.where(valid, _times()(q, log_p), torch.zeros_like(log_p)).sum(dim=-1)
    if r == "none":
        return terms
    if r == "sum":
        return terms.sum()
    if r == "mean":
        counted = valid.any(dim=-1) if "where" in a else torch.ones_like(terms, dtype=torch.bool)
        return terms.sum() / counted.sum().to(terms.dtype)      # no list: 0/0 = NaN
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {r!r}")


RECIPES = {
    "ranking_softmax": Recipe(
        _ranking_softmax,
        "composed: valid = where != 0; q = torch.where(valid, w * y, 0); log_p = "
        "torch.log_softmax(torch.where(valid, s, -inf), dim=-1); loss = -sum over valid items of "
        "q * log_p (0 where q = 0, a small autograd.Function for exact derivatives); 'mean' "
        "divides by the number of lists with a valid item (torch has no listwise softmax loss)",
        "composed"),
}
POLICIES: dict = {}
