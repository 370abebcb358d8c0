"""PyTorch recipes of the ctc family: torch.nn.functional.ctc_loss, native.

Every catalog argument and parameter maps onto it one to one (padded (N, S) or
concatenated targets, unbatched (T, C) input, blank, zero_infinity, reduction).
"""
from __future__ import annotations

from ...base import Recipe
from ..ops import functional as F

RECIPES = {
    "ctc": Recipe(lambda a, p, r: F().ctc_loss(
        a["log_probs"], a["targets"], a["input_lengths"], a["target_lengths"], blank=int(p.get("blank", 0)),
        reduction=r, zero_infinity=bool(p.get("zero_infinity", False))),
        "torch.nn.functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, "
        "reduction, zero_infinity) (int64 targets and lengths)",
        # the CPU kernel is dispatched for float and double only ("ctc_loss_cpu" not
        # implemented for 'Half' / 'BFloat16'): those refusals are reported as unsupported
        dtypes=("float64", "float32")),
}
POLICIES: dict = {}
