"""JAX recipes of the margin family: optax has none of torch's margin losses, so each
is composed from jax.numpy (the ``api`` string is the migration guide).

Class indices are used as they are: under jit JAX cannot raise on an index out of
range (it clamps gathers), which the adapter's unchecked-values policy covers.
"""
from __future__ import annotations

from typing import Any

from ...base import Recipe, require_same_shapes
from ..ops import Arrays, Params, jax_modules, reduce, times


def _param(p: Params, name: str, default: float, like: Any) -> Any:
    """A float parameter in the input's dtype, as a Python literal would be (weakly
    typed); the adapter traces it as a float64 array, which would otherwise promote a
    float32 computation to float64."""
    _, jnp, _ = jax_modules()
    return jnp.asarray(p.get(name, default)).astype(like.dtype)


def _margin_ranking(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    x1, x2, y = a["input1"], a["input2"], a["target"]
    require_same_shapes(x1, x2, y)
    return reduce(jnp.maximum(0.0, -y * (x1 - x2) + _param(p, "margin", 0.0, x1)), r)


def _hinge_embedding(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    return reduce(jnp.where(y == 1, x, jnp.maximum(0.0, _param(p, "margin", 1.0, x) - x)), r)


def _soft_margin(a: Arrays, p: Params, r: str) -> Any:
    jax, _, _ = jax_modules()
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    return reduce(jax.nn.softplus(-y * x), r)


def _multilabel_soft_margin(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, _ = jax_modules()
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    if x.ndim not in (1, 2):
        raise ValueError(f"input must have shape (C,) or (N, C), got {x.shape}")
    classes = x.shape[-1]
    if "weight" in a and a["weight"].shape != (classes,):
        raise ValueError(f"weight must have shape ({classes},), got {a['weight'].shape}")
    w = a.get("weight", 1.0)
    terms = w * (times(y, -x, jax.nn.softplus) + times(1.0 - y, x, jax.nn.softplus))
    return reduce(jnp.sum(terms, axis=-1) / classes, r)


def _rows(x: Any, t: Any, target_shape: Any) -> tuple[Any, Any, bool]:
    """(N, C) rows and the target with a batch axis; unbatched inputs gain one."""
    if x.ndim not in (1, 2):
        raise ValueError(f"input must have shape (C,) or (N, C), got {x.shape}")
    if t.shape != target_shape:
        raise ValueError(f"target shape {t.shape} does not match input {x.shape}: expected {target_shape}")
    return (x[None], t[None], True) if x.ndim == 1 else (x, t, False)


def _multilabel_margin(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    x, t, unbatched = _rows(a["input"], a["target"], a["input"].shape)
    classes = x.shape[-1]
    listed = jnp.cumsum(t < 0, axis=-1) == 0                        # entries before the first -1
    ti = jnp.where(listed, t, 0)
    onehot = (ti[:, :, None] == jnp.arange(classes)) & listed[:, :, None]
    pairs = listed[:, :, None] & ~jnp.any(onehot, axis=1)[:, None, :]
    xt = jnp.take_along_axis(x, ti, axis=-1)
    z = 1.0 - xt[:, :, None] + x[:, None, :]
    terms = jnp.sum(jnp.where(pairs, jnp.maximum(0.0, z), 0.0), axis=(1, 2)) / classes
    return reduce(terms[0] if unbatched else terms, r)


def _multi_margin(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, _ = jax_modules()
    power = p.get("p", 1)
    if power not in (1, 2):
        raise ValueError(f"only p == 1 and p == 2 supported, got {power!r}")
    x, t, unbatched = _rows(a["input"], a["target"], a["input"].shape[:-1])
    classes = x.shape[-1]
    if "weight" in a and a["weight"].shape != (classes,):
        raise ValueError(f"weight must have shape ({classes},), got {a['weight'].shape}")
    t = t.reshape(-1)
    xt = jnp.take_along_axis(x, t[:, None], axis=-1)
    others = ~jax.nn.one_hot(t, classes, dtype=bool)
    h = jnp.where(others, jnp.maximum(0.0, _param(p, "margin", 1.0, x) - xt + x), 0.0)
    c = (a["weight"][t] if "weight" in a else jnp.ones_like(xt[:, 0])) / classes   # w[y] / C
    terms = jnp.sum(c[:, None] * h if power == 1 else c[:, None] * h * h, axis=-1)   # scaled before the sum
    return reduce(terms[0] if unbatched else terms, r)


RECIPES = {
    "margin_ranking": Recipe(_margin_ranking, "composed: jnp.maximum(0, -y * (x1 - x2) + margin) "
                             "(optax has no margin ranking loss)", "composed"),
    "hinge_embedding": Recipe(
        _hinge_embedding, "composed: jnp.where(y == 1, x, jnp.maximum(0, margin - x)) (optax has no "
        "hinge embedding loss; optax.losses.hinge_loss is max(0, 1 - y x))", "composed"),
    "soft_margin": Recipe(_soft_margin, "composed: jax.nn.softplus(-y * x), 'mean' over all elements "
                          "(optax has no soft margin loss)", "composed"),
    "multilabel_soft_margin": Recipe(
        _multilabel_soft_margin,
        "composed: jnp.sum(w * (y * jax.nn.softplus(-x) + (1 - y) * jax.nn.softplus(x)), axis=-1) / C, "
        "each product 0 where its coefficient is 0 (custom-JVP product); 'mean' over the N rows "
        "(optax.losses.sigmoid_binary_cross_entropy gives the per-element term but NaN at infinite "
        "logits, and no weight or 1/C)", "composed"),
    "multilabel_margin": Recipe(
        _multilabel_margin,
        "composed: targets = the entries before the first -1 (jnp.cumsum(t < 0, -1) == 0); "
        "jnp.sum(jnp.maximum(0, 1 - x[y_j] + x[i]) over listed j and non-target i) / C "
        "(optax has no multi-label margin loss)", "composed"),
    "multi_margin": Recipe(
        _multi_margin,
        "composed: jnp.sum(w[y] / C * jnp.maximum(0, margin - x[y] + x[i]) ** p over i != y) "
        "(scaled before the sum: float16 overflows otherwise), x[y] by jnp.take_along_axis; 'mean' "
        "is the plain mean over rows (optax has no multi-class hinge of this form)", "composed",
        static=("p",)),
}
POLICIES: dict = {}
