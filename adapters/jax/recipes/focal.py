"""JAX recipes of the focal family: optax.losses.sigmoid_focal_loss and
optax.losses.poly_loss_cross_entropy where they apply; the categorical focal loss
(optax has none), probabilities and label smoothing composed from jax.numpy, with the
focal factor from the log domain as optax computes it."""
from __future__ import annotations

import functools
from typing import Any

from conformance.vocab.case import Case

from ...base import Recipe
from ..ops import Arrays, Params, jax_modules, reduce, times


@functools.cache
def _coef_times_log() -> Any:
    """coef * fac * log(p), 0 where coef = 0, with exact partials (d/dcoef = fac log p
    even where coef = 0; no 0 * inf in d/dfac, d/dp)."""
    jax, jnp, _ = jax_modules()

    @jax.custom_jvp
    def f(coef: Any, fac: Any, p: Any) -> Any:
        zero = coef == 0
        return jnp.where(zero, 0.0, coef * fac * jnp.log(jnp.where(zero, 1.0, p)))

    @f.defjvp
    def f_jvp(primals: Any, tangents: Any) -> Any:
        (coef, fac, p), (d_coef, d_fac, d_p) = primals, tangents
        zero = coef == 0
        safe_p = jnp.where(zero, 1.0, p)
        d_rest = jnp.where(zero, 0.0, coef * (d_fac * jnp.log(safe_p) + fac * d_p / safe_p))
        return f(coef, fac, p), d_coef * fac * jnp.log(p) + d_rest
    return f


def _factor_of_probabilities(u: Any, gamma: Any) -> Any:
    """u ** gamma with 0 ** 0 = 1 and no infinite derivative at u = 0."""
    _, jnp, _ = jax_modules()
    positive = u > 0
    return jnp.where(positive, jnp.where(positive, u, 1.0) ** gamma, jnp.where(gamma == 0, 1.0, 0.0))


def _binary_focal(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, optax = jax_modules()
    x, y = a["input"], a["target"]
    gamma, alpha = p.get("gamma", 2.0), p.get("alpha")
    if "label_smoothing" in p:
        y = y * (1.0 - p["label_smoothing"]) + 0.5 * p["label_smoothing"]
    if p.get("from_logits", True):
        return reduce(optax.losses.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma), r)
    if x.shape != y.shape:
        raise ValueError(f"input shape {x.shape} and target shape {y.shape} differ")
    factor = _factor_of_probabilities(y * (1.0 - x) + (1.0 - y) * x, gamma)
    ce = -(times(y, x, jnp.log) + times(1.0 - y, -x, jnp.log1p))
    # an infinite ce (p = 0 or 1 against a label it excludes) is the loss whatever the
    # (positive, maybe underflowed) factor, and its pole the gradient's limit: no 0 * inf,
    # no +-inf of the factor's own term
    infinite = jnp.isinf(ce)
    terms = jnp.where(infinite, ce, factor * jnp.where(infinite, 0.0, ce))
    if alpha is not None:
        terms = (alpha * y + (1.0 - alpha) * (1.0 - y)) * terms
    return reduce(terms, r)


def _binary_kind(case: Case) -> str:
    native = case.params.get("from_logits", True) and "label_smoothing" not in case.params
    return "native" if native else "composed"


def _categorical_focal(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, _ = jax_modules()
    x, y = a["input"], a["target"]
    if x.shape != y.shape or x.ndim not in (1, 2):
        raise ValueError(f"input {x.shape} and target {y.shape} must be one (C,) or (N, C) shape")
    classes = x.shape[-1]
    gamma = p.get("gamma", 2.0)
    q = y
    if "label_smoothing" in p:
        q = (1.0 - p["label_smoothing"]) * y + p["label_smoothing"] / classes
    weight = a["weight"] if "weight" in a else p.get("alpha", 1.0)
    if p.get("from_logits", True):
        log_p = jax.nn.log_softmax(x, axis=-1)
        others = jnp.where(jnp.eye(classes, dtype=bool), -jnp.inf, log_p[..., None, :])
        factor = jnp.exp(gamma * jax.scipy.special.logsumexp(others, axis=-1))
        return reduce(-jnp.sum(weight * q * factor * log_p, axis=-1), r)
    factor = _factor_of_probabilities(1.0 - x, gamma)
    factor = jnp.where(x == 0, jax.lax.stop_gradient(factor), factor)   # log 0: dce/dp's pole is the limit
    return reduce(-jnp.sum(_coef_times_log()(weight * q, factor, x), axis=-1), r)


def _poly1(a: Arrays, p: Params, r: str) -> Any:
    _, _, optax = jax_modules()
    return reduce(optax.losses.poly_loss_cross_entropy(a["input"], a["target"], epsilon=p.get("epsilon", 2.0)), r)


RECIPES = {
    "binary_focal": Recipe(
        _binary_focal,
        "from_logits: optax.losses.sigmoid_focal_loss(x, y, alpha=alpha or None, gamma=gamma), "
        "label_smoothing composed as y <- y (1 - ls) + ls / 2 first; probabilities composed: "
        "-(y log p + (1 - y) log1p(-p)) * (y (1 - p) + (1 - y) p) ** gamma "
        "* (alpha y + (1 - alpha)(1 - y)); jnp.mean / jnp.sum", _binary_kind),
    "categorical_focal": Recipe(
        _categorical_focal,
        "composed (optax has no categorical focal loss): -sum(a * q * exp(gamma * log(1 - p)) * "
        "jax.nn.log_softmax(x), -1), log(1 - p_c) = jax.scipy.special.logsumexp of log p_j over j != c; "
        "probabilities: -sum(a q (1 - p) ** gamma log p); q = (1 - ls) y + ls / C, a = weight or alpha",
        "composed"),
    "poly1_cross_entropy": Recipe(
        _poly1, "optax.losses.poly_loss_cross_entropy(logits, labels, epsilon=epsilon), then jnp.mean / "
        "jnp.sum", "native"),
}
POLICIES: dict = {}
