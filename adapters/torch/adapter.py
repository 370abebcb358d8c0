"""PyTorch: tensors as torch builds them, values and gradients by autograd; the
recipes of each loss family are in recipes/."""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import numpy as np

from ..base import FrameworkAdapter, Output
from .recipes import POLICIES, RECIPES


class TorchAdapter(FrameworkAdapter):
    name = "torch"
    recipes = RECIPES
    policies_by_loss = POLICIES

    def _import(self) -> Any:
        import torch
        # Full float32 on GPUs: no TF32 in matmuls or convolutions (recorded in environment()).
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        return torch

    def environment(self) -> dict[str, Any]:
        torch = self._import()
        env = {"devices": list(self.devices()), "cuda_build": torch.version.cuda,
               "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
               "float32_matmul_precision": torch.get_float32_matmul_precision()}
        if torch.cuda.is_available():
            env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return env

    def version(self) -> str:
        return self._import().__version__

    @functools.cache
    def devices(self) -> tuple[str, ...]:
        torch = self._import()
        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)

    def _prepare(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Callable[[], Output]:
        torch = self._import()
        tdtype = getattr(torch, dtype)
        tensors = {}
        for name, a in arrays.items():
            if np.issubdtype(a.dtype, np.floating):
                t = torch.tensor(a, dtype=torch.float64, device=device).to(tdtype)
                t.requires_grad_(name in wrt)
            else:
                t = torch.tensor(a, dtype=torch.int64, device=device)
            tensors[name] = t
        leaves = [n for n in wrt if tensors[n].requires_grad]

        def call() -> Output:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = recipe.fn(tensors, params, reduction)
            grads = {}
            if leaves:
                gs = torch.autograd.grad(out.sum(), [tensors[n] for n in leaves], allow_unused=True)
                for n, g in zip(leaves, gs):
                    grads[n] = (np.zeros(arrays[n].shape) if g is None
                                else g.detach().to(torch.float64).cpu().numpy())
            return Output(out.detach().to(torch.float64).cpu().numpy(), grads)
        return call
