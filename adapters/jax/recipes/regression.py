"""JAX recipes of the regression family (L1, MSE, SmoothL1, Huber): optax's
squared_error and huber_loss are native; the others are composed."""
from __future__ import annotations

from typing import Any

from ...base import Recipe
from ..ops import Arrays, Params, difference, jax_modules, reduce

OPTAX = "https://optax.readthedocs.io/en/latest/api/"


# -- regression: L1, MSE, SmoothL1, Huber ------------------------------------
# Elementwise in d = input - target; optax.losses.squared_error and
# optax.losses.huber_loss are the native terms. SmoothL1 is Huber rescaled:
# smooth_l1(beta) = huber(delta=beta) / beta, and beta = 0 is L1 (torch's definition).
# The composed ones refuse unequal shapes as optax's own losses do
# (chex.assert_equal_shape), rather than letting jnp broadcast (3, 1) against (3,).


def _l1(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    return reduce(jnp.abs(difference(a)), r)


def _smooth_l1(a: Arrays, p: Params, r: str) -> Any:
    """Written directly: optax.losses.huber_loss(x, y, delta=beta) / beta is the same
    function, but with a tiny beta it underflows in float16 and gives 0/0 at beta = 0.
    ``beta`` may be traced, so beta = 0 (L1) is a ``jnp.where`` too."""
    _, jnp, _ = jax_modules()
    beta = p.get("beta", 1.0)
    d = difference(a)
    ad = jnp.abs(d)
    quadratic = ad < beta
    safe = jnp.where(quadratic, d, 0.0)            # no inf/NaN from the unused branch
    safe_beta = jnp.where(beta == 0, 1.0, beta)
    return reduce(jnp.where(quadratic, 0.5 * safe * safe / safe_beta, ad - 0.5 * beta), r)


RECIPES = {
    "l1": Recipe(_l1, "composed: jnp.abs(x - y) (optax has no L1 loss)", "composed"),
    "mse": Recipe(lambda a, p, r: reduce(jax_modules()[2].losses.squared_error(a["input"], a["target"]), r),
                  f"optax.losses.squared_error ({OPTAX}losses.html#optax.losses.squared_error)"),
    "smooth_l1": Recipe(_smooth_l1, "composed: jnp.where(|d| < beta, 0.5 d^2 / beta, |d| - 0.5 beta), "
                        "d = x - y (equal to optax.losses.huber_loss(x, y, delta=beta) / beta, which "
                        "underflows for a tiny beta in float16); beta == 0 is L1", "composed"),
    "huber": Recipe(lambda a, p, r: reduce(jax_modules()[2].losses.huber_loss(
        a["input"], a["target"], delta=p.get("delta", 1.0)), r),
        f"optax.losses.huber_loss ({OPTAX}generated/optax.losses.huber_loss.html)"),
}
