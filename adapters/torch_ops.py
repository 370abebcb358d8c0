"""Shared pieces of the PyTorch recipes (adapters/torch_adapter.py and adapters/torch_recipes/)."""
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
