"""JAX recipes of the sparse family: both losses are native in optax; the reduction
is jnp.sum / jnp.mean of optax's unreduced terms."""
from __future__ import annotations

from typing import Any

from ...base import Recipe
from ..ops import Arrays, Params, jax_modules, reduce

OPTAX = "https://optax.readthedocs.io/en/latest/api/losses.html"


def _sparsemax(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    return reduce(optax.losses.sparsemax_loss(a["logits"], a["labels"]), r)


def _multiclass_sparsemax(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    return reduce(optax.losses.multiclass_sparsemax_loss(a["scores"], a["labels"]), r)


RECIPES = {
    "sparsemax": Recipe(_sparsemax, f"optax.losses.sparsemax_loss(logits, labels) "
                        f"({OPTAX}#optax.losses.sparsemax_loss); reduction jnp.sum / jnp.mean"),
    "multiclass_sparsemax": Recipe(
        _multiclass_sparsemax, f"optax.losses.multiclass_sparsemax_loss(scores, labels) "
        f"({OPTAX}#optax.losses.multiclass_sparsemax_loss); scores (N, C), integer labels (N,); "
        "reduction jnp.sum / jnp.mean"),
}
POLICIES: dict = {}
