"""The binary family's composed recipes: what they compute where the framework has
no native loss (or takes no weights)."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("loss,extra", [("bce", {}), ("bce", {"weight": np.ones(4)}),
                                        ("bce_with_logits", {"weight": np.ones(4)}),
                                        ("bce_with_logits", {"pos_weight": np.ones(4)})],
                         ids=["bce", "bce_weight", "logits_weight", "logits_pos_weight"])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_jax_composed_binary_refuses_unequal_shapes(loss, extra, reduction):
    """y log x + (1 - y) log1p(-x) would broadcast a (4, 1) input against a (4,) target
    to (4, 4): the composed path must refuse, as the mathematics (and torch) do."""
    pytest.importorskip("jax")
    import jax.numpy as jnp
    from adapters.jax.recipes.binary import RECIPES
    x = jnp.asarray(np.linspace(0.1, 0.9, 4).reshape(4, 1))
    y = jnp.asarray([0.0, 1.0, 0.25, 1.0])
    extra = {k: jnp.asarray(v) for k, v in extra.items()}
    with pytest.raises(ValueError, match="differ"):
        RECIPES[loss].fn({"input": x, "target": y, **extra}, {}, reduction)
    same = RECIPES[loss].fn({"input": x[:, 0], "target": y, **extra}, {}, reduction)
    assert np.all(np.isfinite(np.asarray(same)))
