"""The torch modes that change what is called rather than how it runs: the ``module``
surface (each loss through its torch.nn Module class) and ``autocast``.

The module surface replaces torch.nn.functional, for the recipe's call, by a stand-in
that constructs the loss's Module with the functional call's options and calls it on
its tensors (``nn.CrossEntropyLoss(weight=w, ignore_index=i, reduction=r)(input,
target)``); every other function passes through. Which arguments go to the
constructor and which to ``forward`` is read off the signatures, so nothing is
restated per loss. A recipe composed from torch ops (no Module of torch's own) is
``unsupported`` on this surface.

autocast: the CPU ops that autocast to float32, as documented at
https://pytorch.org/docs/stable/amp.html#cpu-ops-that-can-autocast-to-float32 (and the
CUDA list, https://pytorch.org/docs/stable/amp.html#cuda-ops-that-can-autocast-to-float32):
inside ``torch.autocast`` such a loss runs in float32 on float16/bfloat16/float32 inputs
(float64 is not eligible and stays float64).
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Callable

from ..base import ModeUnsupported, Recipe

#: torch.nn.functional loss -> its torch.nn Module class
MODULES = {
    "l1_loss": "L1Loss", "mse_loss": "MSELoss", "smooth_l1_loss": "SmoothL1Loss", "huber_loss": "HuberLoss",
    "binary_cross_entropy": "BCELoss", "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss", "ctc_loss": "CTCLoss", "kl_div": "KLDivLoss",
    "poisson_nll_loss": "PoissonNLLLoss", "gaussian_nll_loss": "GaussianNLLLoss",
    "cosine_embedding_loss": "CosineEmbeddingLoss", "triplet_margin_loss": "TripletMarginLoss",
    "triplet_margin_with_distance_loss": "TripletMarginWithDistanceLoss",
    "margin_ranking_loss": "MarginRankingLoss", "hinge_embedding_loss": "HingeEmbeddingLoss",
    "soft_margin_loss": "SoftMarginLoss", "multilabel_soft_margin_loss": "MultiLabelSoftMarginLoss",
    "multilabel_margin_loss": "MultiLabelMarginLoss", "multi_margin_loss": "MultiMarginLoss",
}

#: the losses of torch.nn.functional in autocast's lists of ops that autocast to float32
#: (the CPU list; the CUDA list has the same losses), as documented (URLs above)
AUTOCAST_TO_FLOAT32 = frozenset({
    "l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "ctc_loss", "kl_div", "poisson_nll_loss",
    "cosine_embedding_loss", "triplet_margin_loss", "margin_ranking_loss", "hinge_embedding_loss",
    "soft_margin_loss", "multilabel_margin_loss", "multi_margin_loss",
})

_FUNCTIONAL = re.compile(r"^torch\.nn\.functional\.(\w+)")


def functional_name(recipe: Recipe) -> str | None:
    """The torch.nn.functional loss a native recipe calls (from its ``api``)."""
    found = _FUNCTIONAL.match(recipe.api)
    return found.group(1) if found else None


def module_lacking(recipe: Recipe) -> str | None:
    """Why the module surface cannot run the recipe (None: it can)."""
    name = functional_name(recipe)
    if name is None or name not in MODULES:
        return "composed from torch ops: torch has no nn.Module of its own for this loss"
    return None


def autocast_lacking(recipe: Recipe) -> str | None:
    name = functional_name(recipe)
    if name is None:
        return "composed from torch ops: autocast's op lists name torch's own loss functions"
    if name not in AUTOCAST_TO_FLOAT32:
        return (f"torch.nn.functional.{name} is in none of autocast's op lists (it runs in its inputs' dtype): "
                f"https://pytorch.org/docs/stable/amp.html#cpu-ops-that-can-autocast-to-float32")
    return None


class ModuleStandIn:
    """torch.nn.functional, with each loss of MODULES called through its Module."""

    def __init__(self) -> None:
        import torch
        import torch.nn.functional as F
        self._torch, self._F = torch, F
        self.called: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name not in MODULES:
            return getattr(self._F, name)
        return self._through_module(name)

    def _through_module(self, name: str) -> Callable[..., Any]:
        function = getattr(self._F, name)
        cls = getattr(self._torch.nn, MODULES[name])
        forward = [p for p in inspect.signature(cls.forward).parameters if p != "self"]
        init = set(inspect.signature(cls.__init__).parameters) - {"self"}

        def call(*args: Any, **kwargs: Any) -> Any:
            bound = inspect.signature(function).bind(*args, **kwargs).arguments
            options = {k: v for k, v in bound.items() if k not in forward}
            unknown = sorted(set(options) - init)
            if unknown:
                raise ModeUnsupported(f"torch.nn.{cls.__name__} takes no {', '.join(unknown)}")
            self.called.append(cls.__name__)
            return cls(**options)(*[bound[p] for p in forward if p in bound])
        return call
