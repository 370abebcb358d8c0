"""JAX recipes of the ranking family: optax.losses.ranking_softmax_loss is native;
the catalog's reduction maps onto its ``reduce_fn``."""
from __future__ import annotations

from typing import Any

from ...base import Policy, Recipe
from ..ops import Arrays, Params, jax_modules

OPTAX = "https://optax.readthedocs.io/en/latest/api/losses.html"
SAFE_REDUCE = ("https://github.com/google-deepmind/optax/blob/v0.2.8/optax/losses/_ranking.py#L90-L96 "
               "(_safe_reduce: 'we prefer that the loss returns 0 in these cases')")


def _ranking_softmax(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, optax = jax_modules()
    reduce_fn = {"none": None, "sum": jnp.sum, "mean": jnp.mean}.get(r, "?")
    if reduce_fn == "?":
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {r!r}")
    where = a["where"] != 0 if "where" in a else None
    return optax.losses.ranking_softmax_loss(a["logits"], a["labels"], where=where,
                                             weights=a.get("weights"), reduce_fn=reduce_fn)


RECIPES = {
    "ranking_softmax": Recipe(
        _ranking_softmax,
        f"optax.losses.ranking_softmax_loss(logits, labels, where=where != 0, weights=weights, "
        f"reduce_fn=None | jnp.sum | jnp.mean) ({OPTAX}#optax.losses.ranking_softmax_loss)"),
}
POLICIES = {
    "ranking_softmax": Policy(
        knobs={"mean_of_nothing": 0.0}, citation=SAFE_REDUCE,
        summary="a mean over no list (every item masked, or no list at all) is 0, not NaN, "
                "unless a loss is NaN"),
}
