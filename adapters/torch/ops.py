"""Shared pieces of the PyTorch recipes."""
from __future__ import annotations

import contextvars
import functools
from typing import Any, Mapping

from conformance.vocab.catalog import WEIGHTED_MEAN, plain_reduction

Tensors = Mapping[str, Any]
Params = Mapping[str, Any]


def torch_module() -> Any:
    import torch
    return torch


#: what ``functional()`` hands the recipes instead of torch.nn.functional while a
#: surface other than the functional one is checked (adapters/torch/surfaces.py)
SURFACE: contextvars.ContextVar[Any] = contextvars.ContextVar("torch_surface", default=None)


def functional() -> Any:
    """torch.nn.functional, imported on first use (or, in the ``module`` mode, a stand-in
    that calls each loss through its torch.nn Module class)."""
    import torch.nn.functional as F
    stand_in = SURFACE.get()
    return F if stand_in is None else stand_in


def reduce(terms: Any, reduction: str, denominator: Any = None) -> Any:
    """'none' | 'sum' | 'mean' (divided by ``denominator`` when given: weighted means; an
    empty mean is 0/0 = NaN) | 'batchmean' (torch.nn.KLDivLoss: the sum over the size of
    the first dimension)."""
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    if reduction == "mean":
        return terms.mean() if denominator is None else terms.sum() / denominator
    if reduction == "batchmean":
        return terms.sum() / (terms.shape[0] if terms.dim() else 1)
    raise ValueError(f"reduction must be 'none', 'sum', 'mean' or 'batchmean', got {reduction!r}")


def times(coef: Any, values: Any) -> Any:
    """coef * values with 0 where coef = 0 (0 * inf = 0: a label of 0 silences an infinite
    term, 0 log 0 = 0) and the exact partials: d/dcoef = values even where coef = 0,
    d/dvalues = coef (0 there, no 0 * inf); broadcast operands get their gradient summed
    back to their shape. The counterpart of adapters/jax/ops.py ``times``."""
    return _coef_times()(coef, values)


@functools.cache
def _coef_times() -> Any:
    torch = torch_module()

    class CoefTimes(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, coef: Any, values: Any) -> Any:
            ctx.save_for_backward(coef, values)
            return _zero_where_coef_is(coef, values)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            coef, values = ctx.saved_tensors
            return reduced_to(grad * values, coef), reduced_to(_zero_where_coef_is(coef, grad), values)
    return CoefTimes.apply


def _zero_where_coef_is(coef: Any, values: Any) -> Any:
    product = coef * values
    return torch_module().where(coef == 0, torch_module().zeros_like(product), product)


def safe_product(a: Any, b: Any) -> Any:
    """a * b, 0 where either is 0 and the other is not NaN (0 * inf = 0: the limit
    p log p -> 0; a NaN still propagates). For hand-written backward passes: it has no
    derivative of its own."""
    torch = torch_module()
    product = a * b
    zero = ((a == 0) & ~torch.isnan(b)) | ((b == 0) & ~torch.isnan(a))
    return torch.where(zero, torch.zeros_like(product), product)


def reduced_to(grad: Any, like: Any) -> Any:
    """A broadcast product's gradient summed back to the shape of its operand."""
    while grad.dim() > like.dim():
        grad = grad.sum(0)
    for axis, size in enumerate(like.shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis, keepdim=True)
    return grad


def weighted(terms: Any, weights: Any, reduction: str) -> Any:
    """Sample-weighted terms reduced (reference/sample_weights.py): 'none' w * l, 'sum',
    'mean' (over the number of terms), 'weighted_mean' (over the weights' sum); a weight
    of 0 leaves its term out (``times``)."""
    plain = plain_reduction(reduction)
    if tuple(weights.shape) != tuple(terms.shape):
        raise ValueError(f"sample_weight has shape {tuple(weights.shape)}; the terms have shape {tuple(terms.shape)}")
    if bool((weights < 0).any()):
        raise ValueError("sample weights must be >= 0")
    return reduce(times(weights, terms), plain, weights.sum() if reduction == WEIGHTED_MEAN else None)
