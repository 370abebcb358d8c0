"""A native recipe whose function does not exist in the installed framework version
(an older optax without optax.losses.dice_loss, say) is `unsupported` with the reason,
not a refusal of valid input."""
from __future__ import annotations

import numpy as np

from conformance import frameworks
from adapters.base import Recipe, missing_api
from conformance.vocab.case import Case


def test_missing_api_names_the_first_missing_part_and_the_version():
    import torch
    assert missing_api("from_logits: torch.nn.functional.mse_loss(x, y) then jnp.sum") is None
    assert missing_api("composed: torch.nn.functional.no_such_loss(x) (see docs)") == \
        f"torch.nn.functional.no_such_loss does not exist in torch {torch.__version__}"
    assert missing_api("torch.no_such_module.f") == f"torch.no_such_module does not exist in torch {torch.__version__}"
    assert missing_api("composed: 100 * (x - y).abs() / y.abs()") is None


def test_a_native_recipe_of_a_missing_function_is_unsupported_with_the_reason(monkeypatch):
    adapter = frameworks.get("numpy")
    import torch
    monkeypatch.setitem(adapter.recipes, "mse", Recipe(lambda a, p, r: None, "torch.no_such_loss(x, y)", "native"))
    case = Case("mse", "plain", "mean", {"input": np.zeros(2), "target": np.zeros(2)})
    found = adapter.support(case)
    assert (found.kind, found.reason) == ("unsupported", f"torch.no_such_loss does not exist in torch {torch.__version__}")
    monkeypatch.setitem(adapter.recipes, "mse", Recipe(lambda a, p, r: None, "torch.mean(x)", "native"))
    assert adapter.support(case).kind == "native"
