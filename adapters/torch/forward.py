"""torch's forward mode: the gradient by forward-mode AD (torch.autograd.forward_ad, a
unit tangent per element) and a Hessian-vector product by double backward."""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from ..base import ModeUnsupported, Output, hvp_direction

#: forward-mode gradients take one forward pass per element: past this many elements
#: of the differentiated arguments the forward mode is not run
FORWARD_ELEMENTS = 4096
#: how torch says an op has no forward-mode formula
NO_FORWARD_AD = ("forward AD", "forward-mode", "jvp", "forward grad")


def forward_mode(torch: Any, fn: Callable[..., Any], tensors: dict[str, Any], params: Any, reduction: str,
                  leaves: list[str], arrays: Any) -> Output:
    """The value; the gradient of its sum by forward-mode AD, one unit tangent per element;
    and H v for each differentiated argument (double backward)."""
    import torch.autograd.forward_ad as fwAD
    if sum(tensors[n].numel() for n in leaves) > FORWARD_ELEMENTS:
        raise ModeUnsupported(f"more than {FORWARD_ELEMENTS} differentiated elements: one forward pass each")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(tensors, params, reduction)
        grads: dict[str, np.ndarray] = {}
        for n in leaves:
            primal = tensors[n].detach()
            flat = np.zeros(primal.numel())
            for i in range(primal.numel()):
                tangent = torch.zeros_like(primal).reshape(-1)
                tangent[i] = 1
                try:
                    with fwAD.dual_level():
                        dual = fwAD.make_dual(primal, tangent.reshape(primal.shape))
                        total = fn({**tensors, n: dual}, params, reduction).sum()
                        derivative = fwAD.unpack_dual(total).tangent
                except (NotImplementedError, RuntimeError) as exc:
                    if any(w in str(exc) for w in NO_FORWARD_AD):
                        raise ModeUnsupported(f"no forward-mode formula: {' '.join(str(exc).split())[:200]}") \
                            from None
                    raise
                flat[i] = 0.0 if derivative is None else float(derivative.to(torch.float64))
            grads[n] = flat.reshape(arrays[n].shape)
        hvp = {}
        for n in leaves:
            try:
                (g,) = torch.autograd.grad(fn(tensors, params, reduction).sum(), [tensors[n]], create_graph=True)
                v = torch.tensor(hvp_direction(tuple(arrays[n].shape), n), dtype=g.dtype, device=g.device)
                (hv,) = torch.autograd.grad((g * v).sum(), [tensors[n]], allow_unused=True)
            except RuntimeError:
                continue            # a backward that is not itself differentiable: no product
            hvp[n] = (np.zeros(arrays[n].shape) if hv is None else hv.detach().to(torch.float64).cpu().numpy())
    return Output(out.detach().to(torch.float64).cpu().numpy(), grads, dtype=str(out.dtype).removeprefix("torch."),
                  hvp=hvp)
