"""PyTorch recipes of the hinge family: torch.nn has no hinge, squared hinge,
categorical hinge, Crammer-Singer multiclass hinge or perceptron loss, so each is
composed from torch ops (the ``api`` string is the migration guide).

(torch.nn.functional.multi_margin_loss is Weston-Watkins, a *sum* over the wrong
classes divided by C, not the Crammer-Singer maximum; margin_ranking_loss(x, 0, y,
margin=1) happens to equal the binary hinge.) Shapes are checked explicitly: torch
would broadcast a (2, 1) input against a (1, 2) target.
"""
from __future__ import annotations

from typing import Any

from ...base import Recipe
from ..ops import Params, reduce as _reduce, Tensors, times, torch_module


def _same_shapes(a: Tensors) -> tuple[Any, Any]:
    x, y = a["input"], a["target"]
    if x.shape != y.shape:
        raise ValueError(f"input shape {tuple(x.shape)} and target shape {tuple(y.shape)} differ")
    return x, y


def _signs(y: Any, p: Params) -> Any:
    """y itself, or 2 t - 1 for labels = 'binary', refusing a t outside {0, 1} (NaN
    passes: it propagates), as the catalog's definition does."""
    if p.get("labels", "signs") != "binary":
        return y
    torch = torch_module()
    if bool(((y != 0) & (y != 1) & ~torch.isnan(y)).any()):
        raise ValueError("labels = 'binary' takes targets in {0, 1}")
    return 2.0 * y - 1.0


def _binary(margin: float, squared: bool, labelled: bool = True):
    def fn(a: Tensors, p: Params, r: str) -> Any:
        torch = torch_module()
        x, y = _same_shapes(a)
        terms = torch.clamp_min(margin - (_signs(y, p) if labelled else y) * x, 0.0)
        return _reduce(torch.square(terms) if squared else terms, r)
    return fn


def _categorical_hinge(a: Tensors, p: Params, r: str) -> Any:
    torch = torch_module()
    x, y = _same_shapes(a)
    neg = times(1.0 - y, x).amax(dim=-1)
    pos = times(y, x).sum(dim=-1)
    return _reduce(torch.clamp_min(neg - pos + 1.0, 0.0), r)


def _multiclass(margin: float):
    def fn(a: Tensors, p: Params, r: str) -> Any:
        torch = torch_module()
        x, t = a["input"], a["target"]
        if tuple(t.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"labels of shape {tuple(t.shape)} do not match scores {tuple(x.shape)}")
        idx = t.unsqueeze(-1)
        xy = x.gather(-1, idx)                               # raises on an index outside [0, C)
        is_y = torch.arange(x.shape[-1], device=x.device) == idx
        d = torch.where(is_y, torch.zeros_like(x), margin + x - xy)
        return _reduce(d.amax(dim=-1), r)
    return fn


_CHECK = " (shapes checked equal first)"
_LABELS = "y = target, or 2 * target - 1 for labels = 'binary' (a target outside {0, 1} refused); "
RECIPES = {
    "hinge": Recipe(_binary(1.0, False), "composed: torch.clamp_min(1 - y * x, 0); " + _LABELS
                    + "then .sum() / .mean()" + _CHECK + " (F.margin_ranking_loss(x, zeros, y, margin=1) "
                    "is the same function)", "composed"),
    "squared_hinge": Recipe(_binary(1.0, True), "composed: torch.square(torch.clamp_min(1 - y * x, 0)); "
                            + _LABELS + "then .sum() / .mean()" + _CHECK, "composed"),
    "perceptron": Recipe(_binary(0.0, False, labelled=False), "composed: torch.clamp_min(-y * x, 0), then "
                         ".sum() / .mean()" + _CHECK, "composed"),
    "categorical_hinge": Recipe(_categorical_hinge, "composed: neg = torch.where(1 - y == 0, 0, (1 - y) * x)"
                                ".amax(-1), pos = torch.where(y == 0, 0, y * x).sum(-1), "
                                "torch.clamp_min(neg - pos + 1, 0) per row, then .sum() / .mean()", "composed"),
    "multiclass_hinge": Recipe(_multiclass(1.0), "composed: d = 1 + x - x.gather(-1, y[..., None]) with "
                               "d[y] = 0 (torch.where), d.amax(-1) per row, then .sum() / .mean() "
                               "(F.multi_margin_loss is the Weston-Watkins sum, not this maximum)", "composed"),
    "multiclass_perceptron": Recipe(_multiclass(0.0), "composed: d = x - x.gather(-1, y[..., None]) with "
                                    "d[y] = 0 (torch.where), d.amax(-1) per row, then .sum() / .mean()",
                                    "composed"),
}
POLICIES: dict = {}
