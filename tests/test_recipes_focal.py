"""The focal family's composed recipes (torch: binary and categorical focal; JAX: the
categorical focal loss) against the float64 oracle where naive compositions fail:
small cross-entropies, infinite and huge logits, infinite class weights."""
from __future__ import annotations

import numpy as np
import pytest

from reference.focal.binary import binary_focal
from reference.focal.softmax import categorical_focal


def _torch_value_and_grad(loss, arrays, params, reduction="none", dtype="float64"):
    torch = pytest.importorskip("torch")
    from adapters.torch.recipes.focal import RECIPES
    t = {k: torch.tensor(v, dtype=getattr(torch, dtype)) for k, v in arrays.items()}
    t["input"].requires_grad_(True)
    out = RECIPES[loss].fn(t, params, reduction)
    grad, = torch.autograd.grad(out.sum(), t["input"])
    return out.detach().double().numpy(), grad.double().numpy()


def _jax_value_and_grad(loss, arrays, params, reduction="none"):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    from adapters.jax.recipes.focal import RECIPES
    rest = {k: jnp.asarray(v, jnp.float32) for k, v in arrays.items() if k != "input"}

    def f(x):
        return jnp.sum(RECIPES[loss].fn({"input": x, **rest}, params, reduction))
    x = jnp.asarray(arrays["input"], jnp.float32)
    out = RECIPES[loss].fn({"input": x, **rest}, params, reduction)
    return np.asarray(out, np.float64), np.asarray(jax.grad(f)(x), np.float64)


def test_torch_binary_focal_keeps_a_small_cross_entropy():
    """F.binary_cross_entropy_with_logits rounds softplus(x) away for x << 0, y = 0
    (log(1 + e^x) of a rounded 1 + e^x): the recipe's log-sigmoid form keeps it."""
    x, y = np.array([[-23.82544979, -8.35604186]]), np.array([[0.0, 0.0]])
    exact = binary_focal(x, y, gamma=0.0, reduction="none").value
    value, _ = _torch_value_and_grad("binary_focal", {"input": x, "target": y}, {"gamma": 0.0}, dtype="float32")
    np.testing.assert_allclose(value, exact, rtol=1e-6)


@pytest.mark.parametrize("gamma", [0.0, 2.0, 2.6041712760925293])
def test_torch_binary_focal_at_infinite_logits(gamma):
    """Limits at +-inf: value 0 or inf, gradient f dce/dx (f = (1 - y)^gamma at +inf for a
    soft label, not 1), no NaN from (1 - y) * x or 0 * inf."""
    x = np.array([np.inf, -np.inf, np.inf, -np.inf, 1.0])
    y = np.array([1.0, 1.0, 0.54776798, 0.54776798, 0.5])
    ev = binary_focal(x, y, gamma=gamma, reduction="none")
    value, grad = _torch_value_and_grad("binary_focal", {"input": x, "target": y}, {"gamma": gamma})
    np.testing.assert_allclose(value, ev.value, rtol=1e-12)
    np.testing.assert_allclose(grad, ev.grads["input"][0], rtol=1e-12, atol=1e-300)


CATEGORICAL = [
    # a -inf logit against a positive label (gradient -q, not 0 * inf)
    (np.array([[-np.inf, -3.01558416, -4.59797001], [-4.44915836, -10.0, 3.9097712]]), None),
    # a huge negative logit: the factor's derivative times log p_c = -1e30 (1e22 by autograd)
    (np.array([[-1e30, -3.01558416, -4.59797001], [-4.44915836, -10.0, 3.9097712]]), None),
    # an infinite class weight on a dominant class: log p = -2e-9 (0 in float32 as x_c -
    # logsumexp x), inf - inf by autograd
    (np.array([[-36.08183252, 19.57883814, -33.03466646], [30.0, -1.0, 10.0]]),
     np.array([np.inf, 4.0, 4.0])),
]


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("x, weight", CATEGORICAL)
def test_categorical_focal_recipes_at_extreme_logits(framework, x, weight):
    y = np.array([[0.57925064, 0.24781214, 0.17293722], [0.20829735, 0.5246835, 0.26701915]])
    arrays = {"input": x, "target": y} if weight is None else {"input": x, "target": y, "weight": weight}
    ev = categorical_focal(x, y, weight=weight, gamma=1.78, reduction="none")
    run = _torch_value_and_grad if framework == "torch" else _jax_value_and_grad
    value, grad = run("categorical_focal", arrays, {"gamma": 1.78})
    expected = ev.grads["input"][0]
    assert np.array_equal(np.isfinite(grad), np.isfinite(expected)), (grad, expected)
    assert np.array_equal(np.sign(grad[~np.isfinite(grad)]), np.sign(expected[~np.isfinite(expected)]))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(grad[finite], expected[finite], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, ev.value, rtol=1e-5)


def test_torch_categorical_focal_dominant_class_gradient_is_accurate():
    """log(1 - p_c) from logits less their row maximum: the difference of two
    logsumexps of raw logits near 95 lost 47 eps of the gradient in float64."""
    x = np.array([[95.49905, 65.66057701, -85.73421837, -6.7793223, 75.78487323]])
    y = np.array([[0.00655623, 0.22479504, 0.14610736, 0.32112551, 0.30141587]])
    ev = categorical_focal(x, y, gamma=1.769451379776001, reduction="none")
    _, grad = _torch_value_and_grad("categorical_focal", {"input": x, "target": y}, {"gamma": 1.769451379776001})
    err = np.abs(grad - ev.grads["input"][0]) / (np.finfo(np.float64).eps * ev.grad_scales["input"])
    assert err.max() <= 16, err
