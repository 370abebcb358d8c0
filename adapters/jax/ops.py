"""Shared pieces of the JAX adapter and its recipes:
lazy imports, the reduction, the 0 * f(x) = 0 product with exact derivatives, and
optax's shape rule for elementwise losses."""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

from conformance.vocab.catalog import WEIGHTED_MEAN, plain_reduction

Arrays = Mapping[str, Any]      # name -> jax.Array
Params = Mapping[str, Any]


def jax_modules() -> tuple[Any, Any, Any]:
    """(jax, jax.numpy, optax), imported on first use."""
    import jax
    import jax.numpy as jnp
    import optax
    return jax, jnp, optax


def reduce(terms: Any, reduction: str, denominator: Any = None) -> Any:
    """'none' | 'sum' | 'mean' (divided by ``denominator`` when given: weighted means)."""
    _, jnp, _ = jax_modules()
    if reduction == "none":
        return terms
    if reduction == "sum":
        return jnp.sum(terms)
    if reduction == "mean":
        return jnp.mean(terms) if denominator is None else jnp.sum(terms) / denominator
    if reduction == "batchmean":      # torch.nn.KLDivLoss: sum / batch size
        return jnp.sum(terms) / (terms.shape[0] if terms.ndim else 1)
    raise ValueError(f"reduction must be 'none', 'sum', 'mean' or 'batchmean', got {reduction!r}")


def times(coef: Any, arg: Any, fn: Callable[[Any], Any] | None = None) -> Any:
    """coef * fn(arg) (fn defaults to the identity) with 0 * fn(anything) = 0 (the
    entropy's 0 log 0 = 0, a zero weight silencing an infinite term) and the exact
    derivatives: d/dcoef = fn(arg) even where coef = 0 (the usual double jnp.where
    gives 0 there), d/darg = coef * fn'(arg), 0 where coef = 0 (no 0 * inf)."""
    return _coef_times(fn or _identity)(coef, arg)


def _identity(v: Any) -> Any:
    return v


@functools.cache
def _coef_times(fn: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    jax, jnp, _ = jax_modules()

    @jax.custom_jvp
    def f(coef: Any, arg: Any) -> Any:
        zero = coef == 0
        return jnp.where(zero, 0.0, coef * fn(jnp.where(zero, 1.0, arg)))

    @f.defjvp
    def f_jvp(primals: Any, tangents: Any) -> Any:
        (coef, arg), (d_coef, d_arg) = primals, tangents
        zero = coef == 0
        _, d_fn = jax.jvp(fn, (jnp.where(zero, 1.0, arg),), (d_arg,))
        return f(coef, arg), d_coef * fn(arg) + jnp.where(zero, 0.0, coef * d_fn)
    return f


def safe_product(a: Any, b: Any) -> Any:
    """a * b, 0 where either is 0 and the other is not NaN (0 * inf = 0: the limit
    p log p -> 0; a NaN still propagates). For hand-written derivatives: ``times`` is
    the differentiable product with a coefficient."""
    _, jnp, _ = jax_modules()
    return jnp.where(((a == 0) & ~jnp.isnan(b)) | ((b == 0) & ~jnp.isnan(a)), 0.0, a * b)


def difference(a: Arrays) -> Any:
    """x - y, refusing unequal shapes as optax's own losses do (chex.assert_equal_shape)
    rather than letting jnp broadcast (3, 1) against (3,)."""
    x, y = a["input"], a["target"]
    if x.shape != y.shape:
        raise ValueError(f"Shape mismatch: got {x.shape} and {y.shape} (optax convention)")
    return x - y




def weighted(terms: Any, weights: Any, reduction: str) -> Any:
    """Sample-weighted terms reduced (reference/sample_weights.py): 'none' w * l, 'sum',
    'mean' (over the number of terms), 'weighted_mean' (over the weights' sum); a weight
    of 0 leaves its term out (``times``). Traced: negative weights are not checked."""
    _, jnp, _ = jax_modules()
    plain = plain_reduction(reduction)
    if tuple(weights.shape) != tuple(terms.shape):
        raise ValueError(f"sample_weight has shape {tuple(weights.shape)}; the terms have shape {tuple(terms.shape)}")
    return reduce(times(weights, terms), plain, jnp.sum(weights) if reduction == WEIGHTED_MEAN else None)
