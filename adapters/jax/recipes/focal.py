"""JAX recipes of the focal family: optax.losses.sigmoid_focal_loss and
optax.losses.poly_loss_cross_entropy where they apply; the categorical focal loss
(optax has none), probabilities and label smoothing composed from jax.numpy, with the
focal factor from the log domain as optax computes it."""
from __future__ import annotations

import functools
from typing import Any

from conformance.vocab.case import Case

from ...base import Recipe
from ..ops import Arrays, Params, jax_modules, reduce, safe_product, times


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


def _masked_table(values: Any, fill: float) -> Any:
    """(..., C) -> (..., C, C): row c holds the values with its own class c set to fill."""
    _, jnp, _ = jax_modules()
    classes = values.shape[-1]
    return jnp.where(jnp.eye(classes, dtype=bool), fill, values[..., None, :])


def _softmax_parts(x: Any) -> tuple[Any, Any]:
    """(log p, log(1 - p)) over the last axis. log(1 - p_c) = logsumexp_{j != c} x_j -
    logsumexp x, of x less its (finite) row maximum (-inf for the class of a +inf logit);
    log p_c = -softplus(log sum_{j != c} e^x_j - x_c) for a dominant class (p_c > 1/2), where
    jax.nn.log_softmax's x_c - logsumexp x rounds the small log to 0 (an infinite weight then
    makes 0 * inf), jax.nn.log_softmax otherwise."""
    jax, jnp, _ = jax_modules()
    lse = jax.scipy.special.logsumexp
    top = jnp.max(x, axis=-1, keepdims=True)
    xs = x - jnp.where(jnp.isfinite(top), top, 0.0)                # both logsumexps near 0
    others = lse(_masked_table(xs, -jnp.inf), axis=-1)          # log sum_{j != c} e^xs_j
    log_u = others - lse(xs, axis=-1, keepdims=True)
    dominant = log_u < -0.6931471805599453
    # log p_c = -softplus(others - xs_c), not log1p(-(1 - p_c)): float64 jnp.log1p is off by
    # up to 124 ulp on (-0.53, -0.28) on CPU (finding xla-cpu-float64-log1p-inaccurate-near-minus-0.41)
    gap = jnp.where(dominant, others - xs, 0.0)
    log_p = jnp.where(dominant, -jax.nn.softplus(gap), jax.nn.log_softmax(x, axis=-1))
    return log_p, log_u


@functools.cache
def _focal_log_terms() -> Any:
    """h_c = (1 - p_c)^gamma log p_c, p = softmax(x) over the last axis, with the exact
    reverse-mode derivative (jax.custom_vjp): dh_c/dx_j = (delta_cj - p_j) H_c, H_c =
    (1 - p_c)^gamma - gamma (1 - p_c)^(gamma - 1) p_c log p_c, summed as grad_j = G_j (1 - p_j)
    - p_j sum_{c != j} G_c (G_c = g_c H_c), each product 0 where a factor is 0 and the other
    is not NaN (the limits p log p -> 0 and u^(gamma - 1) log(1 - u) -> 0; a NaN weight stays
    NaN). Differentiating through log_softmax and a logsumexp table instead adds two terms
    of opposite sign (inf - inf with an infinite class weight), multiplies a rounded
    w_j - p_j ~ 1e-8 by log p_c (1e22 at a logit of -1e30) and 0 by inf at a -inf logit."""
    jax, jnp, _ = jax_modules()

    def parts(x: Any, gamma: Any) -> tuple[Any, Any, Any]:
        log_p, log_u = _softmax_parts(x)
        factor = jnp.where(gamma == 0, 1.0, jnp.exp(gamma * log_u))     # 0^0 = 1
        return log_p, log_u, factor

    @jax.custom_vjp
    def h(x: Any, gamma: Any) -> Any:
        log_p, _, factor = parts(x, gamma)
        return safe_product(factor, log_p)

    def h_fwd(x: Any, gamma: Any) -> Any:
        log_p, log_u, factor = parts(x, gamma)
        return safe_product(factor, log_p), (log_p, log_u, factor, gamma)

    def h_bwd(res: Any, g: Any) -> Any:
        log_p, log_u, factor, gamma = res
        p, u = jnp.exp(log_p), jnp.exp(log_u)
        # v = -gamma u^(gamma - 1) p log p: 0 where p = 0 or log p = 0 (the limits), from the
        # log domain where u^(gamma - 1) over- or underflows (gamma < 1, u -> 0)
        nan = jnp.isnan(log_p)
        silent = (p == 0) | (log_p == 0) | nan
        safe_log_p = jnp.where(silent, -1.0, log_p)
        safe_log_u = jnp.where(silent, 0.0, log_u)
        power = jnp.exp((gamma - 1.0) * safe_log_u)
        linear = gamma * power * (jnp.exp(safe_log_p) * -safe_log_p)
        logged = gamma * jnp.exp((gamma - 1.0) * safe_log_u + safe_log_p + jnp.log(-safe_log_p))
        v = jnp.where(jnp.isfinite(power) & (power > 0), linear, logged)
        v = jnp.where(nan, log_p, jnp.where(silent, 0.0, v))
        big_g = safe_product(g, factor + v)
        others = jnp.sum(_masked_table(big_g, 0.0), axis=-1)          # sum over c != j
        return safe_product(big_g, u) - safe_product(p, others), jnp.zeros_like(gamma)

    h.defvjp(h_fwd, h_bwd)
    return h


def _categorical_of_logits(x: Any, weight: Any, q: Any, gamma: float) -> Any:
    """-sum_c a_c q_c (1 - p_c)^gamma log p_c per row, from logits (a_c q_c = 0 silences
    its term). Half precision is computed in float32: in float16 a probability of 2e-9 or
    the log of a dominant class, -4e-11, is 0, and an infinite class weight times it is 0 * inf."""
    _, jnp, _ = jax_modules()
    dtype = x.dtype
    if dtype in (jnp.float16, jnp.bfloat16):
        x, q, weight = x.astype(jnp.float32), q.astype(jnp.float32), jnp.asarray(weight).astype(jnp.float32)
    out = -jnp.sum(times(weight * q, _focal_log_terms()(x, jnp.asarray(gamma, x.dtype))), axis=-1)
    return out.astype(dtype)


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
        return reduce(_categorical_of_logits(x, weight, q, gamma), r)
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
        "composed (optax has no categorical focal loss): -sum(a * q * exp(gamma * log(1 - p)) * log p, -1) "
        "(0 * inf = 0), log(1 - p_c) = jax.scipy.special.logsumexp of x_j over j != c - logsumexp(x), with an "
        "exact jax.custom_vjp; log p = -jax.nn.softplus(logsumexp_{j != c} x_j - x_c) for p > 1/2, else "
        "jax.nn.log_softmax; "
        "probabilities: -sum(a q (1 - p) ** gamma log p); q = (1 - ls) y + ls / C, a = weight or alpha",
        "composed"),
    "poly1_cross_entropy": Recipe(
        _poly1, "optax.losses.poly_loss_cross_entropy(logits, labels, epsilon=epsilon), then jnp.mean / "
        "jnp.sum", "native"),
}
POLICIES: dict = {}
