"""JAX recipes of the divergence family: optax's KL divergences are native
(``axis=()`` keeps optax's terms elementwise; its default ``axis=-1`` sums each row),
the Poisson and Gaussian likelihoods are composed from jax.numpy (optax has neither).

The Poisson NLL composes the mathematics, not torch's conventions: log(y!) exactly
(jax.scipy.special.gammaln(y + 1), not the Stirling term) and x - y log x for a rate
(0 log 0 = 0 through adapters/jax/ops.times; torch's eps, a stand-in for log 0, is
not used), so it has no policy. The Gaussian NLL composes
torch.nn.GaussianNLLLoss's documented formula, the variance clamped to max(var, eps)
(a policy: at var = 0 the unclamped log 0 + d^2 / 0 has no finite floating-point
evaluation, -inf + inf); jnp.maximum differentiates the clamp (0 below eps).

A numeric parameter (eps) arrives traced as a float64 array, which would promote a
float16 computation to float64; it is cast to the input's dtype first, as a Python
float constant would be (JAX's weak typing)."""
from __future__ import annotations

import math
import warnings
from typing import Any

from ...base import Policy, Recipe
from ..ops import Arrays, Params, jax_modules, reduce, times

OPTAX = "https://optax.readthedocs.io/en/latest/api/losses.html"


def _same_shape(x: Any, y: Any) -> None:
    if x.shape != y.shape:
        raise ValueError(f"Shape mismatch: got {x.shape} and {y.shape} (input and target must agree)")


def _optax_terms(name: str, x: Any, t: Any, r: str) -> Any:
    """optax's KL terms, reduced as torch.nn.KLDivLoss's reduction says: 'batchmean' of a
    2-D input is optax's per-row sums (default axis=-1) averaged; otherwise axis=()."""
    _, jnp, optax = jax_modules()
    fn = getattr(optax.losses, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # convex_kl_divergence
        if r == "batchmean" and x.ndim == 2:
            return jnp.mean(fn(x, t))
        return reduce(fn(x, t, axis=()), r)


def _kl_div(a: Arrays, p: Params, r: str) -> Any:
    name = "kl_divergence_with_log_targets" if p.get("log_target", False) else "kl_divergence"
    return _optax_terms(name, a["input"], a["target"], r)


def _generalized(name: str):
    return lambda a, p, r: _optax_terms(name, a["input"], a["target"], r)


def _poisson_nll(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    from jax.scipy.special import gammaln
    x, y = a["input"], a["target"]
    _same_shape(x, y)
    if p.get("log_input", True):
        terms = jnp.exp(x) - times(y, x)
    else:                                   # the mathematics: no eps (torch's stand-in for log 0)
        terms = x - times(y, x, jnp.log)
    if p.get("full", False):
        terms = terms + gammaln(y + 1.0)     # log(y!), exactly
    return reduce(terms, r)


def _fit(name: str, a: Any, shape: tuple[int, ...], fewer: bool) -> Any:
    """torch.nn.GaussianNLLLoss's documented shapes: equal; one dimension equal to 1;
    (var) without the last dimension, shared along it (``v[..., None]``)."""
    if a.shape == shape:
        return a
    if fewer and len(shape) >= 1 and a.shape == shape[:-1]:
        return a[..., None]
    differ = [i for i, (s, u) in enumerate(zip(shape, a.shape)) if s != u] if a.ndim == len(shape) else []
    if len(differ) == 1 and a.shape[differ[0]] == 1:
        return a
    raise ValueError(f"{name} of shape {a.shape} does not fit the input's shape {shape}")


def _gaussian_nll(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = jax_modules()
    x = a["input"]
    t = _fit("target", a["target"], x.shape, False)
    v = _fit("var", a["var"], x.shape, True)
    eps = jnp.asarray(p.get("eps", 1e-6), x.dtype)
    v = jnp.maximum(v, eps)
    terms = 0.5 * (jnp.log(v) + (x - t) ** 2 / v)
    if p.get("full", False):
        terms = terms + 0.5 * math.log(2.0 * math.pi)
    return reduce(terms, r)


GENERALIZED = ("optax.losses.{}(input, target, axis=()) (elementwise), then jnp.sum / jnp.mean / "
               "jnp.sum / N; 'batchmean' of a 2-D input: jnp.mean(optax.losses.{}(input, target)) "
               "(optax's default axis=-1 sums each row)")
GAUSSIAN = ("composed: v = jnp.maximum(var, eps) (var without the last dimension: var[..., None]); "
            "0.5 * (jnp.log(v) + (input - target) ** 2 / v) [+ 0.5 * log(2 pi) if full]: "
            "torch.nn.GaussianNLLLoss's documented formula (optax has no Gaussian NLL)")

RECIPES = {
    "kl_div": Recipe(_kl_div, GENERALIZED.format("kl_divergence", "kl_divergence")
                     + "; log_target=True: optax.losses.kl_divergence_with_log_targets"),
    "generalized_kl_divergence": Recipe(_generalized("generalized_kl_divergence"),
                                        GENERALIZED.format(*["generalized_kl_divergence"] * 2)),
    "convex_kl_divergence": Recipe(_generalized("convex_kl_divergence"),
                                   GENERALIZED.format(*["convex_kl_divergence"] * 2)
                                   + " (deprecated alias of generalized_kl_divergence)"),
    "poisson_nll": Recipe(_poisson_nll, "composed, the mathematics: log_input: jnp.exp(x) - y * x; else x - y * "
                          "jnp.log(x) (0 * log 0 = 0 through adapters/jax/ops.times; torch's eps is not used); "
                          "full: + jax.scipy.special.gammaln(y + 1) (log y!, not torch's Stirling term) "
                          "(optax has no Poisson loss)", "composed"),
    "gaussian_nll": Recipe(_gaussian_nll, GAUSSIAN, "composed"),
    "gaussian_nll_homoscedastic": Recipe(_gaussian_nll, GAUSSIAN, "composed"),
}
_GAUSSIAN_CLAMP = Policy(
    knobs={"var_clamp": True},
    citation=("https://pytorch.org/docs/stable/generated/torch.nn.GaussianNLLLoss.html ('eps (float, optional): "
              "value used to clamp var (see note below), for stability'; the loss 0.5 * (log(max(var, eps)) + "
              "(input - target)^2 / max(var, eps))), the formula this recipe composes with jnp.maximum"),
    summary="var clamped to max(var, eps) with the case's eps (torch's documented formula, composed); "
            "the gradient w.r.t. var is 0 where var < eps (jnp.maximum's)")

POLICIES = {"gaussian_nll": _GAUSSIAN_CLAMP, "gaussian_nll_homoscedastic": _GAUSSIAN_CLAMP}
