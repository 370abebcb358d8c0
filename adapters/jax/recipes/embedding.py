"""JAX recipes of the embedding family: optax.losses.cosine_similarity /
cosine_distance, triplet_margin_loss (without swap) and ntxent are native; the
cosine embedding loss, the swapped triplet and the triplet with a distance
function are composed from jax.numpy (the ``api`` string is the migration guide).

The composed p-norm is written m * ||v / m||_p with m = max |v_i|, so that no power
overflows in float16; its derivative sign(v_i) (|v_i| / ||v||_p)^(p - 1) is written
out (a custom VJP), 0 at v = 0 (a subgradient: the norm has a corner there)."""
from __future__ import annotations

from typing import Any

import numpy as np

from conformance.vocab.dtypes import numpy_dtype

from ...base import Policy, Recipe, require_same_shapes
from ..ops import Arrays, Params, jax_modules, reduce

OPTAX = "https://optax.readthedocs.io/en/latest/api/losses.html"
SELF_SUPERVISED = "optax/losses/_self_supervised.py"


def _param(p: Params, name: str, default: float, like: Any) -> Any:
    """A traced parameter in the inputs' dtype, as a Python float (weakly typed) would
    be: a float64 array would promote a float16 computation to float64."""
    return jax_modules()[1].asarray(p.get(name, default), like.dtype)


def _p_norm_value(v: Any, p: Any) -> Any:
    jax, jnp, _ = jax_modules()
    a = jnp.abs(v)
    m = jnp.max(a, axis=-1, keepdims=True)
    zero = m == 0
    safe = jnp.where(zero | jnp.isinf(m), 1.0, m)
    s = jnp.sum((a / safe) ** p, axis=-1, keepdims=True)
    n = jnp.where(zero, 0.0, safe * jnp.where(zero, 1.0, s) ** (1.0 / p))
    return jnp.where(jnp.isinf(m), m, n)[..., 0]


def _p_norm_vjp(v: Any, p: Any, n: Any, g: Any) -> Any:
    """g sign(v_i) (|v_i| / n)^(p - 1); 0 at v = 0 (the corner's subgradient) and where
    g = 0 (a distance the loss does not use, such as the one swap leaves out, passes
    nothing back, even where its own slope is inf / inf)."""
    _, jnp, _ = jax_modules()
    d = jnp.where(n > 0, n, 1.0)[..., None]
    slope = jnp.sign(v) * (jnp.abs(v) / d) ** (p - 1)
    unused = (n == 0)[..., None] | (g == 0)[..., None]
    return jnp.where(unused, 0.0, g[..., None] * slope)


def p_norm(v: Any, p: Any) -> Any:
    """||v||_p over the last axis (see the module's docstring), with its derivative
    written out (a jax.custom_vjp): where an entry is infinite the norm is inf and
    autodiff through m * ||v / m|| would spread inf / inf over the whole row; the
    written derivative is 0 at the finite entries and inf / inf at the infinite one."""
    jax, jnp, _ = jax_modules()

    @jax.custom_vjp
    def norm(v: Any, p: Any) -> Any:
        return _p_norm_value(v, p)

    def forward(v: Any, p: Any) -> Any:
        n = _p_norm_value(v, p)
        return n, (v, p, n)

    def backward(res: Any, g: Any) -> Any:
        v, p, n = res
        return _p_norm_vjp(v, p, n, g), jnp.zeros_like(p)

    norm.defvjp(forward, backward)
    return norm(v, jnp.asarray(p, v.dtype))


def _cosine_distance(x: Any, y: Any) -> Any:
    return 1.0 - jax_modules()[2].losses.cosine_similarity(x, y)


def _triplet(a: Arrays, p: Params, r: str, dist: Any) -> Any:
    _, jnp, _ = jax_modules()
    anchor, positive, negative = a["anchor"], a["positive"], a["negative"]
    require_same_shapes(anchor, positive, negative)
    dn = dist(anchor, negative)
    if p.get("swap", False):
        dn = jnp.minimum(dn, dist(positive, negative))
    return reduce(jnp.maximum(dist(anchor, positive) - dn + _param(p, "margin", 1.0, anchor), 0.0), r)


def _triplet_margin(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    degree = _param(p, "p", 2.0, a["anchor"])
    if p.get("swap", False):
        return _triplet(a, p, r, lambda x, y: p_norm(x - y, degree))
    return reduce(optax.losses.triplet_margin_loss(
        a["anchor"], a["positive"], a["negative"], norm_degree=degree,
        margin=_param(p, "margin", 1.0, a["anchor"])), r)


def _triplet_with_distance(a: Arrays, p: Params, r: str) -> Any:
    if p.get("distance", "pairwise") == "cosine":
        return _triplet(a, p, r, _cosine_distance)
    return _triplet(a, p, r, lambda x, y: p_norm(x - y, 2.0))


def _cosine_embedding(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, optax = jax_modules()
    x1, x2, y = a["input1"], a["input2"], a["target"]
    require_same_shapes(x1, x2)
    if x1.ndim not in (1, 2) or y.shape != x1.shape[:-1]:
        raise ValueError(f"inputs (N, D) with target (N,), or (D,) with (), expected; got {x1.shape}, {y.shape}")
    cos = optax.losses.cosine_similarity(x1, x2)
    return reduce(jnp.where(y == 1, 1.0 - cos, jnp.maximum(cos - _param(p, "margin", 0.0, x1), 0.0)), r)


def _cosine_similarity(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    x, y = a["input"], a["target"]
    if p.get("form", "negative") == "distance":
        return reduce(optax.losses.cosine_distance(x, y), r)
    return reduce(-optax.losses.cosine_similarity(x, y), r)


def _ntxent(a: Arrays, p: Params, r: str) -> Any:
    if r != "mean":
        raise ValueError(f"optax.losses.ntxent is a mean over positive pairs, got reduction {r!r}")
    e = a["embeddings"]
    return jax_modules()[2].losses.ntxent(e, a["labels"], _param(p, "temperature", 0.07, e))


def _triplet_kind(case: Any) -> str:
    return "composed" if case.params.get("swap", False) else "native"


_P_NORM = ("m * jnp.sum((|x - y| / m) ** p, -1) ** (1 / p), m = max |x - y|, a jax.custom_vjp with the "
           "derivative sign(v) (|v| / d) ** (p - 1)")

RECIPES = {
    "cosine_embedding": Recipe(
        _cosine_embedding, "composed: c = optax.losses.cosine_similarity(input1, input2) (epsilon=0); "
        "jnp.where(y == 1, 1 - c, jnp.maximum(c - margin, 0)) (optax has no cosine embedding loss)", "composed"),
    "cosine_similarity": Recipe(
        _cosine_similarity, f"'negative': -optax.losses.cosine_similarity(input, target); 'distance': "
        f"optax.losses.cosine_distance(input, target) (= 1 - similarity) ({OPTAX}); jnp.sum / jnp.mean"),
    "triplet_margin": Recipe(
        _triplet_margin, f"optax.losses.triplet_margin_loss(anchor, positive, negative, norm_degree=p, margin) "
        f"(eps default 1e-6) ({OPTAX}); swap=True (optax has none) composed: d = {_P_NORM}, "
        "jnp.maximum(d(a, p) - jnp.minimum(d(a, n), d(p, n)) + margin, 0)", _triplet_kind),
    "triplet_margin_with_distance": Recipe(
        _triplet_with_distance, f"composed: 'pairwise' d = {_P_NORM} with p = 2, 'cosine' d = 1 - "
        "optax.losses.cosine_similarity(x, y); jnp.maximum(d(a, p) - d(a, n) + margin, 0), swap: "
        "jnp.minimum(d(a, n), d(p, n)) (optax has no distance-function triplet loss)", "composed"),
    "ntxent": Recipe(_ntxent, f"optax.losses.ntxent(embeddings, labels, temperature) ({OPTAX})"),
}


def _in_dtype(value: float, dtype: str) -> float:
    """A Python constant as JAX holds it next to an array of ``dtype`` (weak typing)."""
    return float(np.asarray(value, dtype=numpy_dtype(dtype)))


def _ntxent_floor(dtype: str) -> float:
    import ml_dtypes
    return float(np.sqrt(float(ml_dtypes.finfo(numpy_dtype(dtype)).eps)))


POLICIES = {
    "triplet_margin": Policy(
        knobs=lambda dtype: {"power_eps": _in_dtype(1e-6, dtype)},
        citation=(f"{OPTAX} (triplet_margin_loss: 'eps: A small epsilon value to ensure numerical stability "
                  f"in the distance calculation', default 1e-6); {SELF_SUPERVISED}: 'positive_distance = "
                  "jnp.power(jnp.power(anchors - positives, norm_degree).sum(axis) + eps, 1 / norm_degree)'"),
        summary="d(x, y) = (sum (x - y)^p + 1e-6)^(1/p): eps added to the sum of powers"),
    "ntxent": Policy(
        knobs=lambda dtype: {"norm_floor": _ntxent_floor(dtype)},
        citation=(f"{SELF_SUPERVISED} ntxent: 'cosine_similarity(..., epsilon=jnp.finfo(embeddings.dtype).eps)'; "
                  "optax/losses/_regression.py cosine_similarity: 'a_norm = jnp.sqrt(a_norm2.clip(epsilon))' "
                  f"('epsilon: minimum norm for terms in the denominator', {OPTAX})"),
        summary="each squared norm clipped at finfo(dtype).eps (the norm floored at its square root)"),
}
