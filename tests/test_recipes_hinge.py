"""The hinge family's composed recipes: what they compute where the framework has
no native loss."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("bad", [-1.0, 2.0, 1.0000001])
def test_torch_composed_binary_labels_refuse_a_target_outside_zero_one(loss, bad):
    """labels = 'binary' reads t in {0, 1} as 2 t - 1 and refuses any other t (the
    catalog's definition): 2 t - 1 must not be applied to a -1 or 1.0000001 silently."""
    pytest.importorskip("torch")
    import torch
    from adapters.torch.recipes.hinge import RECIPES
    x = torch.tensor([[0.5], [2.0], [-1.0]])
    with pytest.raises(ValueError, match="takes targets in"):
        RECIPES[loss].fn({"input": x, "target": torch.tensor([[1.0], [0.0], [bad]])}, {"labels": "binary"}, "none")
    # 0 / 1 converted; a NaN target passes and propagates to its own term only
    out = RECIPES[loss].fn({"input": x, "target": torch.tensor([[1.0], [0.0], [float("nan")]])},
                           {"labels": "binary"}, "none").numpy().ravel()
    assert np.allclose(out[:2], [0.5, 3.0] if loss == "hinge" else [0.25, 9.0]) and np.isnan(out[2])
    # labels = 'signs' applies the formula to any y, as the reference does
    signs = RECIPES[loss].fn({"input": x, "target": torch.tensor([[1.0], [0.0], [bad]])}, {}, "none")
    assert torch.isfinite(signs).all()
