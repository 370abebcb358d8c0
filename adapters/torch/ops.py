"""Shared pieces of the PyTorch recipes."""
from __future__ import annotations

from typing import Any, Mapping

Tensors = Mapping[str, Any]
Params = Mapping[str, Any]


def torch_module() -> Any:
    import torch
    return torch


def functional() -> Any:
    """torch.nn.functional, imported on first use."""
    import torch.nn.functional as F
    return F


def reduce(terms: Any, reduction: str) -> Any:
    """'none' | 'sum' | 'mean' (an empty mean is 0/0 = NaN) | 'batchmean' (torch.nn.KLDivLoss:
    the sum over the size of the first dimension)."""
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    if reduction == "mean":
        return terms.mean()
    if reduction == "batchmean":
        return terms.sum() / (terms.shape[0] if terms.dim() else 1)
    raise ValueError(f"reduction must be 'none', 'sum', 'mean' or 'batchmean', got {reduction!r}")
