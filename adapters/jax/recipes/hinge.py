"""JAX recipes of the hinge family: optax's hinge_loss, perceptron_loss,
multiclass_hinge_loss and multiclass_perceptron_loss are native (they return the
unreduced terms; the reduction is jnp.sum / jnp.mean); the squared and categorical
hinges, which optax lacks, are composed. optax documents targets in {-1, 1} only,
so 0/1 labels (labels = 'binary') are converted by the recipe: composed."""
from __future__ import annotations

from typing import Any

from conformance.vocab.case import Case

from ...base import Recipe
from ..ops import Arrays, Params, jax_modules, reduce, times

OPTAX = "https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses."


def _same_shapes(a: Arrays) -> tuple[Any, Any]:
    x, y = a["input"], a["target"]
    if x.shape != y.shape:
        raise ValueError(f"Shape mismatch: got {x.shape} and {y.shape}")
    return x, y


def _hinge(a: Arrays, p: Params, r: str) -> Any:
    """Native: optax.losses.hinge_loss as it is (it does not check shapes); labels =
    'binary' composes the conversion and checks the shapes."""
    _, _, optax = jax_modules()
    if p.get("labels", "signs") == "binary":
        x, y = _same_shapes(a)
        return reduce(optax.losses.hinge_loss(x, 2.0 * y - 1.0), r)
    return reduce(optax.losses.hinge_loss(a["input"], a["target"]), r)


def _squared_hinge(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, optax = jax_modules()
    x, y = _same_shapes(a)
    if p.get("labels", "signs") == "binary":
        y = 2.0 * y - 1.0
    return reduce(jnp.square(optax.losses.hinge_loss(x, y)), r)


def _perceptron(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    return reduce(optax.losses.perceptron_loss(a["input"], a["target"]), r)


def _categorical_hinge(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    x, y = _same_shapes(a)
    neg = jnp.max(times(1.0 - y, x), axis=-1)
    pos = jnp.sum(times(y, x), axis=-1)
    return reduce(jnp.maximum(neg - pos + 1.0, 0.0), r)


def _multiclass_hinge(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    return reduce(optax.losses.multiclass_hinge_loss(a["input"], a["target"]), r)


def _multiclass_perceptron(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    return reduce(optax.losses.multiclass_perceptron_loss(a["input"], a["target"]), r)


def _native_for_signs(case: Case) -> str:
    return "composed" if case.params.get("labels", "signs") == "binary" else "native"


RECIPES = {
    "hinge": Recipe(_hinge, f"optax.losses.hinge_loss(input, target) ({OPTAX}hinge_loss), then jnp.sum / "
                    "jnp.mean; labels = 'binary' (composed): hinge_loss(input, 2 * target - 1), shapes "
                    "checked equal", _native_for_signs),
    "squared_hinge": Recipe(_squared_hinge, "composed: jnp.square(optax.losses.hinge_loss(input, y)), y = "
                            "target or 2 * target - 1 for labels = 'binary', shapes checked equal; then "
                            "jnp.sum / jnp.mean (optax has no squared hinge)", "composed"),
    "perceptron": Recipe(_perceptron, f"optax.losses.perceptron_loss(input, target) ({OPTAX}perceptron_loss), "
                         "then jnp.sum / jnp.mean"),
    "categorical_hinge": Recipe(_categorical_hinge, "composed: neg = jnp.max((1 - y) * x, -1), pos = "
                                "jnp.sum(y * x, -1) (products with a zero coefficient are 0: "
                                "adapters/jax/ops.times), jnp.maximum(neg - pos + 1, 0) per row, then "
                                "jnp.sum / jnp.mean (optax has no categorical hinge)", "composed"),
    "multiclass_hinge": Recipe(_multiclass_hinge, f"optax.losses.multiclass_hinge_loss(scores, labels) "
                               f"({OPTAX}multiclass_hinge_loss), then jnp.sum / jnp.mean"),
    "multiclass_perceptron": Recipe(_multiclass_perceptron, "optax.losses.multiclass_perceptron_loss(scores, "
                                    f"labels) ({OPTAX}multiclass_perceptron_loss), then jnp.sum / jnp.mean"),
}
POLICIES: dict = {}
