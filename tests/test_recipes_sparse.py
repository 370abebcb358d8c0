"""The sparse family's composed recipes (torch, TensorFlow): a NaN label is NaN in the
binary sparsemax loss and its gradient, as in the oracle; other labels outside {0, 1} are
refused."""
from __future__ import annotations

import numpy as np
import pytest

X = np.array([-71.76287079, 0.25, 26.88679504])
Y = np.array([np.nan, 0.0, 1.0])


def test_torch_sparsemax_nan_label_propagates():
    torch = pytest.importorskip("torch")
    from adapters.torch.recipes.sparse import RECIPES
    x = torch.tensor(X, requires_grad=True)
    out = RECIPES["sparsemax"].fn({"logits": x, "labels": torch.tensor(Y)}, {}, "none")
    grad, = torch.autograd.grad(out.sum(), x)
    assert np.isnan(out[0].item()) and np.isnan(grad[0].item()), (out, grad)
    np.testing.assert_allclose(out[1:].detach().numpy(), [(0.25 + 1) ** 2 / 4, 0.0])
    np.testing.assert_allclose(grad[1:].numpy(), [(0.25 + 1) / 2, 0.0])
    with pytest.raises(ValueError, match="0 or 1"):
        RECIPES["sparsemax"].fn({"logits": x, "labels": torch.tensor([0.5, 0.0, 1.0])}, {}, "none")


def test_tensorflow_sparsemax_nan_label_propagates():
    pytest.importorskip("tensorflow")
    from adapters.tensorflow.ops import tf
    from adapters.tensorflow.recipes.sparse import RECIPES
    tf_ = tf()
    x = tf_.Variable(X)
    with tf_.GradientTape() as tape:
        out = RECIPES["sparsemax"].fn({"logits": x, "labels": tf_.constant(Y)}, {}, "none")
        total = tf_.reduce_sum(out)
    grad = tape.gradient(total, x).numpy()
    out = out.numpy()
    assert np.isnan(out[0]) and np.isnan(grad[0]), (out, grad)
    np.testing.assert_allclose(out[1:], [(0.25 + 1) ** 2 / 4, 0.0])
    np.testing.assert_allclose(grad[1:], [(0.25 + 1) / 2, 0.0])
    with pytest.raises(ValueError, match="0 or 1"):
        RECIPES["sparsemax"].fn({"logits": x, "labels": tf_.constant([0.5, 0.0, 1.0], tf_.float64)}, {}, "none")
