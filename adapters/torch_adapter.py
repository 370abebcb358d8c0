"""PyTorch: every loss of the documents is native in torch.nn.functional; the other
families' recipes are in adapters/torch_recipes/."""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import numpy as np

from .base import FrameworkAdapter, Output, Policy, Recipe
from .torch_recipes import POLICIES as FAMILY_POLICIES, RECIPES as FAMILY_RECIPES

DOCS = "https://pytorch.org/docs/stable/generated/"


def _f():
    import torch.nn.functional as F
    return F


def _opt(arrays, name):
    return arrays.get(name)


RECIPES = {
    "l1": Recipe(lambda a, p, r: _f().l1_loss(a["input"], a["target"], reduction=r),
                 "torch.nn.functional.l1_loss"),
    "mse": Recipe(lambda a, p, r: _f().mse_loss(a["input"], a["target"], reduction=r),
                  "torch.nn.functional.mse_loss"),
    "smooth_l1": Recipe(lambda a, p, r: _f().smooth_l1_loss(a["input"], a["target"], reduction=r, **p),
                        "torch.nn.functional.smooth_l1_loss"),
    "huber": Recipe(lambda a, p, r: _f().huber_loss(a["input"], a["target"], reduction=r, **p),
                    "torch.nn.functional.huber_loss"),
    "bce": Recipe(lambda a, p, r: _f().binary_cross_entropy(
        a["input"], a["target"], weight=_opt(a, "weight"), reduction=r),
        "torch.nn.functional.binary_cross_entropy"),
    "bce_with_logits": Recipe(lambda a, p, r: _f().binary_cross_entropy_with_logits(
        a["input"], a["target"], weight=_opt(a, "weight"), pos_weight=_opt(a, "pos_weight"), reduction=r),
        "torch.nn.functional.binary_cross_entropy_with_logits"),
    "cross_entropy": Recipe(lambda a, p, r: _f().cross_entropy(
        a["input"], a["target"], weight=_opt(a, "weight"), reduction=r, **p),
        "torch.nn.functional.cross_entropy"),
    "nll": Recipe(lambda a, p, r: _f().nll_loss(
        a["input"], a["target"], weight=_opt(a, "weight"), reduction=r, **p),
        "torch.nn.functional.nll_loss"),
}

POLICIES = {
    "bce": Policy(
        # EPSILON is `constexpr float EPSILON = 1e-12;`: a float, 9.99999996e-13.
        knobs={"log_floor": -100.0, "grad_floor": float(np.float32(1e-12))},
        citation=DOCS + "torch.nn.BCELoss.html ('BCELoss clamps its log function outputs to be "
                 "greater than or equal to -100'); aten/src/ATen/native/Loss.cpp "
                 "(constexpr float EPSILON = 1e-12; binary_cross_entropy_backward: "
                 "grad * (x - y) / max((1 - x) * x, EPSILON))",
        summary="log clamped at -100; backward divides by max(x(1-x), 1e-12)"),
}


RECIPES = {**RECIPES, **FAMILY_RECIPES}
POLICIES = {**POLICIES, **FAMILY_POLICIES}


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
