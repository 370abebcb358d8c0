"""JAX recipes of the binary family (BCE on probabilities and on logits)."""
from __future__ import annotations

from typing import Any

from ...base import Recipe, require_same_shapes
from ..ops import Arrays, Params, jax_modules, reduce, times

OPTAX = "https://optax.readthedocs.io/en/latest/api/"


# -- binary: BCE on probabilities and on logits --------------------------------
# ``weight`` is broadcast to the input, ``pos_weight`` along the last axis; 'mean'
# is a plain mean over elements. optax.losses.sigmoid_binary_cross_entropy is the
# native term on logits; weights make the recipe composed (optax takes none). The
# composed paths refuse an input and a target of different shapes (the loss pairs
# them elementwise); the native one is left as optax has it (it broadcasts).


def _bce(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    terms = -(times(y, x, jnp.log) + times(1.0 - y, -x, jnp.log1p))
    if "weight" in a:
        terms = jnp.broadcast_to(a["weight"], x.shape) * terms
    return reduce(terms, r)


def _bce_with_logits(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, optax = jax_modules()
    x, y = a["input"], a["target"]
    if "pos_weight" not in a and "weight" not in a:
        return reduce(optax.losses.sigmoid_binary_cross_entropy(x, y), r)
    require_same_shapes(x, y)
    py = y if "pos_weight" not in a else jnp.broadcast_to(a["pos_weight"], x.shape) * y
    softplus = jax.nn.softplus
    terms = times(py, -x, softplus) + times(1.0 - y, x, softplus)
    if "weight" in a:
        terms = jnp.broadcast_to(a["weight"], x.shape) * terms
    return reduce(terms, r)


RECIPES = {
    "bce": Recipe(_bce, "composed: -w * (y * jnp.log(x) + (1 - y) * jnp.log1p(-x)), each product "
                  "0 where its coefficient is 0 (double jnp.where; optax has no BCE on "
                  "probabilities)", "composed"),
    "bce_with_logits": Recipe(
        _bce_with_logits,
        f"optax.losses.sigmoid_binary_cross_entropy ({OPTAX}generated/"
        "optax.losses.sigmoid_binary_cross_entropy.html); with weight/pos_weight composed: "
        "w * (p * y * jax.nn.softplus(-x) + (1 - y) * jax.nn.softplus(x))",
        lambda case: "composed" if {"weight", "pos_weight"} & set(case.arrays) else "native"),
}
