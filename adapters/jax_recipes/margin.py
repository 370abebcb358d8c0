"""JAX recipes of the margin family: optax has none of torch's margin losses, so each
is composed from jax.numpy (the ``api`` string is the migration guide)."""
from __future__ import annotations

from typing import Any

from ..base import Recipe
from ..jax_ops import Arrays, Params, jax_modules, reduce


def _margin_ranking(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    x1, x2, y = a["input1"], a["input2"], a["target"]
    if not x1.shape == x2.shape == y.shape:
        raise ValueError(f"shapes differ: {x1.shape}, {x2.shape}, {y.shape}")
    return reduce(jnp.maximum(0.0, -y * (x1 - x2) + p.get("margin", 0.0)), r)


RECIPES = {
    "margin_ranking": Recipe(_margin_ranking, "composed: jnp.maximum(0, -y * (x1 - x2) + margin) "
                             "(optax has no margin ranking loss)", "composed"),
}
POLICIES: dict = {}
