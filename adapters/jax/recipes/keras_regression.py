"""JAX recipes of the keras_regression family: optax.losses.log_cosh is native;
optax.losses.binary_dice_loss and optax.losses.dice_loss are native for logits; MAPE,
MSLE and Dice/Tversky on probabilities are composed from jax.numpy (the ``api``
string is the migration guide).

Numeric parameters arrive traced as float64 arrays; they are cast to the input's
dtype first, as a Python float would be, so a float16 case is computed in float16
rather than promoted to float64.
"""
from __future__ import annotations

from typing import Any

from ...base import Recipe
from ..ops import Arrays, Params, difference, jax_modules, reduce

OPTAX = "https://optax.readthedocs.io/en/latest/api/losses.html"


def _param(p: Params, name: str, default: float, like: Any) -> Any:
    _, jnp, _ = jax_modules()
    return jnp.asarray(p.get(name, default), dtype=like.dtype)


def _log_cosh(a: Arrays, p: Params, r: str) -> Any:
    return reduce(jax_modules()[2].losses.log_cosh(a["input"], a["target"]), r)


def _mape(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    return reduce(100.0 * jnp.abs(difference(a)) / jnp.abs(a["target"]), r)


def _msle(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    difference(a)   # refuses unequal shapes
    return reduce(jnp.square(jnp.log1p(a["input"]) - jnp.log1p(a["target"])), r)


def _sums(t: Any) -> Any:
    _, jnp, _ = jax_modules()
    return jnp.sum(t, axis=tuple(range(1, t.ndim))) if t.ndim >= 2 else jnp.sum(t)


def _batched(fn: Any, z: Any, y: Any) -> Any:
    """optax's segmentation losses sum over the axes between the first and the last:
    an unbatched sample gets a batch axis of one, and loses it after."""
    return fn(z, y) if z.ndim >= 2 else fn(z[None], y[None])[0]


def _dice(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    difference(a)
    x, y = a["input"], a["target"]
    s = _param(p, "smooth", 0.0, x)
    if p.get("from_logits", False):
        return reduce(_batched(lambda z, t: optax.losses.binary_dice_loss(z, t, smooth=0.5 * s), x, y), r)
    return reduce(1.0 - (2.0 * _sums(x * y) + s) / (_sums(x) + _sums(y) + s), r)


def _tversky(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, optax = jax_modules()
    difference(a)
    x, y = a["input"], a["target"]
    alpha, beta, s = (_param(p, n, d, x) for n, d in (("alpha", 0.5), ("beta", 0.5), ("smooth", 0.0)))
    if p.get("from_logits", False):
        return reduce(_batched(lambda z, t: optax.losses.dice_loss(
            z[..., None], t[..., None], alpha=alpha, beta=beta, smooth=s, apply_softmax=True), x, y), r)
    i = _sums(x * y)
    return reduce(1.0 - (i + s) / (i + alpha * _sums(x * (1.0 - y)) + beta * _sums((1.0 - x) * y) + s), r)


def _logits_native(case: Any) -> str:
    return "native" if case.params.get("from_logits", False) else "composed"


_NO_PROBABILITIES = ("on probabilities composed (optax's apply_softmax=False / apply_sigmoid=False checks "
                     "in Python that the class axis sums to 1: it cannot be traced under jit, and a "
                     "binary mask's class axis of size 1 never sums to 1: finding "
                     "optax-dice-refuses-probabilities)")

RECIPES = {
    "log_cosh": Recipe(_log_cosh, f"optax.losses.log_cosh(x, y) ({OPTAX}#optax.losses.log_cosh), "
                       "then jnp.sum / jnp.mean"),
    "mape": Recipe(_mape, "composed: 100 * jnp.abs(x - y) / jnp.abs(y) (optax has no MAPE)", "composed"),
    "msle": Recipe(_msle, "composed: jnp.square(jnp.log1p(x) - jnp.log1p(y)) (optax has no MSLE)",
                   "composed"),
    "dice": Recipe(_dice, f"from_logits: optax.losses.binary_dice_loss(input, target, smooth=smooth / 2) "
                   f"({OPTAX}#optax.losses.binary_dice_loss; its smooth is added to I and to (P + T) / 2), "
                   "an unbatched sample given a batch axis of one; " + _NO_PROBABILITIES
                   + ": 1 - (2 sum(x y) + smooth) / (sum(x) + sum(y) + smooth) over every axis but the first",
                   _logits_native),
    "tversky": Recipe(_tversky, f"from_logits: optax.losses.dice_loss(input[..., None], target[..., None], "
                      f"alpha, beta, smooth, apply_softmax=True) ({OPTAX}#optax.losses.dice_loss: one class, "
                      "sigmoid, alpha on P - I = FP, beta on T - I = FN), an unbatched sample given a batch "
                      "axis of one; " + _NO_PROBABILITIES + ": 1 - (I + smooth) / (I + alpha FP + beta FN + "
                      "smooth) over every axis but the first", _logits_native),
}
POLICIES: dict = {}
