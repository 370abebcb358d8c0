"""PyTorch: tensors as torch builds them, values and gradients by autograd; the
recipes of each loss family are in recipes/."""
from __future__ import annotations

import functools
import logging
import warnings
from typing import Any, Callable

import numpy as np

from ..base import FrameworkAdapter, ModeUnsupported, Output, Support
from . import surfaces
from .forward import forward_mode
from .ops import SURFACE, weighted
from .recipes import POLICIES, RECIPES



#: what a compiled function may recompile for new shapes and parameters before
#: torch gives up; past it torch.compile would silently run the loss eagerly,
#: so the suite makes that an error (fail_on_recompile_limit_hit)
RECOMPILE_LIMIT = 256


@functools.cache
def _compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """torch.compile of one recipe (inductor; on the CPU it needs the system C++
    compiler), kept for the whole loss: a new shape or parameter recompiles it."""
    import torch
    return torch.compile(fn)


class TorchAdapter(FrameworkAdapter):
    name = "torch"
    recipes = RECIPES
    policies_by_loss = POLICIES
    modes = {"compiled": "torch.compile(loss) (inductor; autograd through the compiled graph)",
             "module": "the torch.nn Module class (nn.MSELoss(reduction=r)(input, target)), autograd",
             "autocast": "inside torch.autocast(device, dtype=bfloat16 on the CPU / float16 on CUDA, or the "
                         "inputs' half dtype): a float32 result, the plain float32 call's value",
             "forward": "the gradient by forward-mode AD (torch.autograd.forward_ad, one tangent per "
                        "element) and H v by double backward (torch.autograd.grad(create_graph=True))"}
    modes_lacking = {"graph": "torch has no graph mode apart from torch.compile (TorchScript is deprecated)",
                     "keras": "Keras's loss classes are TensorFlow's surface"}

    def mode_unsupported(self, mode: str, loss: str | None = None) -> str | None:
        recipe = self.recipes.get(loss) if loss else None
        if recipe is not None and mode == "module":
            return surfaces.module_lacking(recipe)
        if recipe is not None and mode == "autocast":
            return surfaces.autocast_lacking(recipe)
        return super().mode_unsupported(mode, loss)

    def weigh(self, terms: Any, weights: Any, reduction: str) -> Any:
        return weighted(terms, weights, reduction)

    def mode_support(self, case: Any, mode: str) -> Support | None:
        recipe = self.recipes.get(case.loss)
        name = surfaces.functional_name(recipe) if recipe is not None else None
        if mode != "module" or name not in surfaces.MODULES:
            return None
        return Support("native", f"torch.nn.{surfaces.MODULES[name]} (the Module around torch.nn.functional.{name})")

    def documented_dtype(self, mode: str, loss: str, dtype: str) -> str | None:
        """autocast's float32 list: float32 out of float16, bfloat16 and float32 inputs
        (float64 is not eligible: https://pytorch.org/docs/stable/amp.html#op-eligibility)."""
        if mode != "autocast":
            return None
        return "float64" if dtype == "float64" else "float32"

    def plain_dtype(self, mode: str, dtype: str) -> str:
        return "float32" if mode == "autocast" and dtype != "float64" else dtype

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

    def release(self) -> None:
        """Compiled losses are dropped with their loss: dynamo's caches, the wrappers."""
        if _compiled.cache_info().currsize:
            _compiled.cache_clear()
            self._import()._dynamo.reset()

    def _compiling(self) -> None:
        torch = self._import()
        config = torch._dynamo.config
        for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                     "accumulated_cache_size_limit"):
            if hasattr(config, name):
                setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
        if hasattr(config, "fail_on_recompile_limit_hit"):
            config.fail_on_recompile_limit_hit = True
        # dynamo explains each graph break (a recipe's value check, .item()) at WARNING:
        # advice for a model's author, not news about the loss
        logging.getLogger("torch._dynamo").setLevel(logging.ERROR)

    def _prepare(self, recipe, arrays, params, reduction, dtype, device, wrt, mode=None) -> Callable[[], Output]:
        torch = self._import()
        fn = recipe.fn
        if mode == "compiled":
            self._compiling()
            fn = _compiled(recipe.fn)
        elif mode == "module":
            fn = _through_modules(recipe.fn)
        elif mode == "autocast":
            fn = _autocast(torch, recipe.fn, device, dtype)
        elif mode not in (None, "forward"):
            raise ValueError(f"torch runs no {mode!r} mode here")
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

        if mode == "forward":
            return lambda: forward_mode(torch, fn, tensors, params, reduction, leaves, arrays)

        def call() -> Output:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = fn(tensors, params, reduction)
            grads = {}
            if leaves:
                gs = torch.autograd.grad(out.sum(), [tensors[n] for n in leaves], allow_unused=True)
                for n, g in zip(leaves, gs):
                    grads[n] = (np.zeros(arrays[n].shape) if g is None
                                else g.detach().to(torch.float64).cpu().numpy())
            return Output(out.detach().to(torch.float64).cpu().numpy(), grads,
                          dtype=str(out.dtype).removeprefix("torch."))
        return call


def _through_modules(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The recipe with torch.nn.functional's losses called through their Module classes."""
    def call(tensors: Any, params: Any, reduction: str) -> Any:
        stand_in = surfaces.ModuleStandIn()
        token = SURFACE.set(stand_in)
        try:
            out = fn(tensors, params, reduction)
        finally:
            SURFACE.reset(token)
        if not stand_in.called:
            raise ModeUnsupported("the recipe called no torch.nn loss Module")
        return out
    return call


def _autocast(torch: Any, fn: Callable[..., Any], device: str, dtype: str) -> Callable[..., Any]:
    """The recipe inside torch.autocast, in the inputs' half dtype, else bfloat16 on the CPU
    and float16 on CUDA (torch.autocast's defaults per device)."""
    fast = dtype if dtype in ("float16", "bfloat16") else ("float16" if device == "cuda" else "bfloat16")

    def call(tensors: Any, params: Any, reduction: str) -> Any:
        with torch.autocast(device_type=device, dtype=getattr(torch, fast)):
            return fn(tensors, params, reduction)
    return call
