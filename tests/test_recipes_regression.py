"""The regression family's composed recipes: what they compute where the framework
has no native loss (or the native one reduces differently)."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("loss", ["l1", "mse", "huber", "smooth_l1"])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_tensorflow_composed_regression_refuses_unequal_shapes(loss, reduction):
    """tf.abs(x - y) would broadcast a (4, 1) input against a (4,) target to (4, 4):
    the composed path must refuse, as the mathematics (and optax) do."""
    pytest.importorskip("tensorflow")
    from adapters.tensorflow.ops import tf
    from adapters.tensorflow.recipes.regression import RECIPES
    x = tf().constant(np.arange(4.0).reshape(4, 1))
    y = tf().constant(np.arange(4.0) + 0.5)
    with pytest.raises(ValueError, match="differ"):
        RECIPES[loss].fn({"input": x, "target": y}, {}, reduction)
    same = RECIPES[loss].fn({"input": x, "target": tf().reshape(y, (4, 1))}, {}, reduction)
    assert np.all(np.isfinite(np.asarray(same)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_composed_log_cosh_does_not_cancel_for_small_differences(dtype):
    """|d| + log1p(exp(-2 |d|)) - log 2 cancels to d^2 / 2 with an absolute error of
    eps(log 2): log cosh(6.1e-5) = 1.86e-9 came back 0 in float32. The composed recipe
    must be accurate to a few ulp there, and stay finite (with the slope tanh d) far out."""
    torch = pytest.importorskip("torch")
    mp = pytest.importorskip("mpmath")
    from adapters.torch.recipes.keras_regression import RECIPES
    dt = getattr(torch, dtype)
    d = np.array([-6.103515625e-05, 1e-3, -0.3, 0.999, 1.0, 1.5, -30.0, 1e4])
    x = torch.tensor(d, dtype=dt, requires_grad=True)
    value = RECIPES["log_cosh"].fn({"input": x, "target": torch.zeros(len(d), dtype=dt)}, {}, "none")
    value.sum().backward()
    dd = x.detach().double().numpy()
    with mp.workdps(60):
        exact = np.array([float(mp.log(mp.cosh(mp.mpf(float(v))))) for v in dd])
    eps = torch.finfo(dt).eps
    assert np.all(np.abs(value.detach().double().numpy() - exact) <= 4 * eps * np.abs(exact)), (value, exact)
    assert np.all(np.abs(x.grad.double().numpy() - np.tanh(dd)) <= 4 * eps * np.abs(np.tanh(dd))), x.grad
