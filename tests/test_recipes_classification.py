"""The classification family's composed recipes (JAX and TF have no weighted,
ignored or smoothed softmax cross-entropy, and no NLL loss): an ignored row adds
nothing, and a class weight is read only where the class is used, so neither an
ignored row's logits nor an unused class's weight (inf, NaN) reaches the value
or the gradient."""
from __future__ import annotations

import numpy as np
import pytest

NAN, INF = float("nan"), float("inf")
# row 0 is ignored (ignore_index -100) and holds a NaN logit; class 0's weight is
# infinite and only row 0 (ignored) names it
X = np.array([[NAN, 1.0, 2.0], [0.5, 1.0, 2.0], [0.0, -1.0, 3.0]])
Y = np.array([-100, 1, 2])
W = np.array([INF, 2.0, 0.5])


def _expected(weight: np.ndarray, ls: float) -> tuple[np.ndarray, np.ndarray]:
    """Terms and the gradient of their sum, computed on the counted rows only."""
    rows = X[1:]
    logp = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
    q = (1.0 - ls) * np.eye(3)[Y[1:]] + ls / 3
    with np.errstate(invalid="ignore"):
        wq = np.where(q == 0, 0.0, weight[None] * q)
    terms = np.concatenate([[0.0], -(wq * logp).sum(axis=1)])
    grad = np.vstack([np.zeros(3), wq.sum(axis=1, keepdims=True) * np.exp(logp) - wq])
    return terms, grad


def _jax(loss: str, params: dict, weight: np.ndarray):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from adapters.jax.recipes.classification import RECIPES
    fn = RECIPES[loss].fn
    a = {"target": jnp.asarray(Y), "weight": jnp.asarray(weight)}
    terms = fn({"input": jnp.asarray(X), **a}, params, "none")
    grad = jax.grad(lambda x: fn({"input": x, **a}, params, "sum"))(jnp.asarray(X))
    return np.asarray(terms), np.asarray(grad)


def _tf(loss: str, params: dict, weight: np.ndarray):
    tf = pytest.importorskip("tensorflow")
    from adapters.tensorflow.recipes.classification import RECIPES
    fn = RECIPES[loss].fn
    x = tf.Variable(X)
    a = {"target": tf.constant(Y), "weight": tf.constant(weight)}
    terms = fn({"input": tf.constant(X), **a}, params, "none")
    with tf.GradientTape() as tape:
        total = fn({"input": x, **a}, params, "sum")
    return terms.numpy(), tape.gradient(total, x).numpy()


@pytest.mark.parametrize("run", [_jax, _tf], ids=["jax", "tensorflow"])
@pytest.mark.parametrize("weight,ls", [(W, 0.0), (np.array([3.0, 2.0, 0.5]), 0.1)],
                         ids=["unused_infinite_weight", "smoothed"])
@pytest.mark.slow
def test_composed_cross_entropy_ignores_ignored_rows_and_unused_weights(run, weight, ls):
    """The old compositions gave NaN: w * onehot(y) is inf * 0 for the unused class
    (JAX), w[y] gathered at the ignored row's stand-in index 0 is inf (TF), and the
    NaN logit of the ignored row went through log_softmax's backward (both)."""
    terms, grad = run("cross_entropy", {"label_smoothing": ls}, weight)
    want_terms, want_grad = _expected(weight, ls)
    np.testing.assert_allclose(terms, want_terms, rtol=1e-12, atol=0)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("run", [_jax, _tf], ids=["jax", "tensorflow"])
def test_composed_nll_ignored_row_with_infinite_weight(run):
    terms, grad = run("nll", {}, W)
    np.testing.assert_array_equal(terms, [0.0, -2.0 * 1.0, -0.5 * 3.0])
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, -0.5]])


@pytest.mark.slow
def test_jax_composed_cross_entropy_probability_target_gradients():
    """Probability targets with weights and smoothing: the value and both gradients
    (the target's as well), -sum_c w_c q_c log p_c with q = (1 - ls) y + ls / C."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from adapters.jax.recipes.classification import RECIPES
    fn, ls = RECIPES["cross_entropy"].fn, 0.1
    x, y, w = np.array([[0.5, 1.0, 2.0], [0.0, -1.0, 3.0]]), np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]]), np.array([3.0, 2.0, 0.5])
    f = lambda x_, y_: fn({"input": x_, "target": y_, "weight": jnp.asarray(w)}, {"label_smoothing": ls}, "sum")
    gx, gy = jax.grad(f, argnums=(0, 1))(jnp.asarray(x), jnp.asarray(y))
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    wq = w * ((1 - ls) * y + ls / 3)
    np.testing.assert_allclose(float(f(jnp.asarray(x), jnp.asarray(y))), -(wq * logp).sum(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gx), wq.sum(axis=1, keepdims=True) * np.exp(logp) - wq, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gy), -(1 - ls) * w * logp, rtol=1e-12)
