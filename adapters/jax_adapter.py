"""JAX + optax: native where optax has the loss term, composed from jax.numpy otherwise.

optax's losses (https://optax.readthedocs.io/en/latest/api/losses.html) return
unreduced terms; the reduction is ``jnp.sum`` / ``jnp.mean``. optax has no L1, no
BCE on probabilities, no NLL, and no class weight, pos_weight, ignore_index or
label smoothing in its cross-entropies: those recipes are composed from JAX
primitives, and each composed ``api`` string says how (a migration guide).

Conventions of the composed recipes (the reference's):
* ``0 * log 0 = 0``: a term whose coefficient is 0 is 0 with gradient 0 (a double
  ``jnp.where``; ``jax.scipy.special.xlogy(0, p)`` has the right value but a NaN
  gradient in ``p`` at ``p = 0``: its custom JVP computes ``0 * log 0 + 0 / 0``);
* ignored rows (``target == ignore_index``) have value 0 and gradient 0; the index
  is replaced by 0 before one-hot/gather, since JAX clamps or fills out-of-range
  indices instead of raising (https://docs.jax.dev/en/latest/notebooks/Common_Gotchas_in_JAX.html#out-of-bounds-indexing).

Each (recipe, reduction, native-or-composed) is compiled once with ``jax.jit``
(value and gradient together); the loss's parameters are traced arguments, so
one executable serves every parameter value of a shape. Eager dispatch compiles
every primitive for every new shape (~3 s a case); one jit compiles the whole
loss once per shape. float64 through
``jax_enable_x64``, on the device the engine names ("cpu" or "cuda").
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Mapping

import numpy as np

from .base import FrameworkAdapter, Output, Policy, Recipe, is_probability_target
from .native_logs import GPU_PROBE, filtered_stderr

OPTAX = "https://optax.readthedocs.io/en/latest/api/"
SHARP_BITS = ("https://docs.jax.dev/en/latest/notebooks/Common_Gotchas_in_JAX.html"
              "#out-of-bounds-indexing")

from .jax_ops import Arrays, Params, difference as _difference, jax_modules as _jax, reduce as _reduce
from .jax_ops import times as _times
from .jax_recipes import POLICIES as FAMILY_POLICIES, RECIPES as FAMILY_RECIPES


# -- regression: L1, MSE, SmoothL1, Huber ------------------------------------
# Elementwise in d = input - target; optax.losses.squared_error and
# optax.losses.huber_loss are the native terms. SmoothL1 is Huber rescaled:
# smooth_l1(beta) = huber(delta=beta) / beta, and beta = 0 is L1 (torch's definition).
# The composed ones refuse unequal shapes as optax's own losses do
# (chex.assert_equal_shape), rather than letting jnp broadcast (3, 1) against (3,).


def _l1(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = _jax()
    return _reduce(jnp.abs(_difference(a)), r)


def _smooth_l1(a: Arrays, p: Params, r: str) -> Any:
    """Written directly: optax.losses.huber_loss(x, y, delta=beta) / beta is the same
    function, but with a tiny beta it underflows in float16 and gives 0/0 at beta = 0.
    ``beta`` may be traced, so beta = 0 (L1) is a ``jnp.where`` too."""
    _, jnp, _ = _jax()
    beta = p.get("beta", 1.0)
    d = _difference(a)
    ad = jnp.abs(d)
    quadratic = ad < beta
    safe = jnp.where(quadratic, d, 0.0)            # no inf/NaN from the unused branch
    safe_beta = jnp.where(beta == 0, 1.0, beta)
    return _reduce(jnp.where(quadratic, 0.5 * safe * safe / safe_beta, ad - 0.5 * beta), r)


# -- binary: BCE on probabilities and on logits --------------------------------
# ``weight`` is broadcast to the input, ``pos_weight`` along the last axis; 'mean'
# is a plain mean over elements. optax.losses.sigmoid_binary_cross_entropy is the
# native term on logits; weights make the recipe composed (optax takes none).


def _bce(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = _jax()
    x, y = a["input"], a["target"]
    terms = -(_times(y, x, jnp.log) + _times(1.0 - y, -x, jnp.log1p))
    if "weight" in a:
        terms = jnp.broadcast_to(a["weight"], x.shape) * terms
    return _reduce(terms, r)


def _bce_with_logits(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, optax = _jax()
    x, y = a["input"], a["target"]
    if "pos_weight" not in a and "weight" not in a:
        return _reduce(optax.losses.sigmoid_binary_cross_entropy(x, y), r)
    py = y if "pos_weight" not in a else jnp.broadcast_to(a["pos_weight"], x.shape) * y
    softplus = jax.nn.softplus
    terms = _times(py, -x, softplus) + _times(1.0 - y, x, softplus)
    if "weight" in a:
        terms = jnp.broadcast_to(a["weight"], x.shape) * terms
    return _reduce(terms, r)


# -- classification: cross-entropy and NLL -------------------------------------
# Classes on axis 1 of (N, C, d1, ..., dK) or on axis 0 of an unbatched (C,)
# input. optax takes the class ``axis``; the native recipes are used for the
# unweighted, unsmoothed loss with no ignored row, where optax's per-row term and
# ``jnp.mean`` are the whole definition. Otherwise the classes are moved last and
# the loss is composed; 'mean' divides by the sum of w[y] over counted rows (class
# indices) or by the number of rows M (probability targets).


def _ce_native(arrays: Mapping[str, Any], params: Params) -> bool:
    """Whether optax alone computes this cross-entropy (shared by kind and fn).

    Decided on the concrete target before tracing; inside jit the decision
    arrives as the static parameter ``_native``."""
    if "_native" in params:
        return params["_native"]
    if "weight" in arrays or params.get("label_smoothing", 0.0) != 0:
        return False
    if is_probability_target(arrays):
        return True
    return not bool(np.any(np.asarray(arrays["target"]) == params.get("ignore_index", -100)))


def _rows(a: Arrays, p: Params) -> tuple[Any, Any, Any, Any]:
    """(classes-last input, class weights, class-index target with ignored rows set
    to 0 (or None), counted-row mask (or None)); unbatched inputs gain a batch axis."""
    _, jnp, _ = _jax()
    x, t = a["input"], a["target"]
    if x.ndim == 1:
        x, t = x[None], t[None]
    x = jnp.moveaxis(x, 1, -1)
    w = a["weight"] if "weight" in a else jnp.ones(x.shape[-1], x.dtype)
    if is_probability_target(a):
        return x, w, jnp.moveaxis(t, 1, -1), None
    valid = t != p.get("ignore_index", -100)
    return x, w, jnp.where(valid, t, 0), valid


def _unbatch(terms: Any, a: Arrays) -> Any:
    return terms[0] if a["input"].ndim == 1 else terms


def _cross_entropy(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, optax = _jax()
    x, t = a["input"], a["target"]
    axis = min(1, x.ndim - 1)
    if _ce_native(a, p):
        if is_probability_target(a):
            return _reduce(optax.losses.softmax_cross_entropy(x, t, axis=axis), r)
        return _reduce(optax.losses.softmax_cross_entropy_with_integer_labels(x, t, axis=axis), r)
    rows, w, target, valid = _rows(a, p)
    classes, ls = rows.shape[-1], p.get("label_smoothing", 0.0)
    if valid is None:                                   # probability targets
        q, denominator = (1.0 - ls) * target + ls / classes, None
    else:
        q = (1.0 - ls) * jax.nn.one_hot(target, classes, dtype=rows.dtype) + ls / classes
        q = jnp.where(valid[..., None], q, 0.0)
        denominator = jnp.sum(jnp.where(valid, w[target], 0.0))
    wq = w * q
    log_p = jax.nn.log_softmax(rows, axis=-1)
    terms = -jnp.sum(_times(wq, log_p), axis=-1)
    if valid is not None:
        terms = jnp.where(valid, terms, 0.0)
    return _reduce(_unbatch(terms, a), r, denominator)


def _nll(a: Arrays, p: Params, r: str) -> Any:
    _, jnp, _ = _jax()
    rows, w, target, valid = _rows(a, p)
    picked = jnp.take_along_axis(rows, target[..., None], axis=-1)[..., 0]
    wt = jnp.where(valid, w[target], 0.0)
    terms = jnp.where(valid, -wt * picked, 0.0)
    return _reduce(_unbatch(terms, a), r, jnp.sum(wt))


RECIPES = {
    "l1": Recipe(_l1, "composed: jnp.abs(x - y) (optax has no L1 loss)", "composed"),
    "mse": Recipe(lambda a, p, r: _reduce(_jax()[2].losses.squared_error(a["input"], a["target"]), r),
                  f"optax.losses.squared_error ({OPTAX}losses.html#optax.losses.squared_error)"),
    "smooth_l1": Recipe(_smooth_l1, "composed: jnp.where(|d| < beta, 0.5 d^2 / beta, |d| - 0.5 beta), "
                        "d = x - y (equal to optax.losses.huber_loss(x, y, delta=beta) / beta, which "
                        "underflows for a tiny beta in float16); beta == 0 is L1", "composed"),
    "huber": Recipe(lambda a, p, r: _reduce(_jax()[2].losses.huber_loss(
        a["input"], a["target"], delta=p.get("delta", 1.0)), r),
        f"optax.losses.huber_loss ({OPTAX}generated/optax.losses.huber_loss.html)"),
    "bce": Recipe(_bce, "composed: -w * (y * jnp.log(x) + (1 - y) * jnp.log1p(-x)), each product "
                  "0 where its coefficient is 0 (double jnp.where; optax has no BCE on "
                  "probabilities)", "composed"),
    "bce_with_logits": Recipe(
        _bce_with_logits,
        f"optax.losses.sigmoid_binary_cross_entropy ({OPTAX}generated/"
        "optax.losses.sigmoid_binary_cross_entropy.html); with weight/pos_weight composed: "
        "w * (p * y * jax.nn.softplus(-x) + (1 - y) * jax.nn.softplus(x))",
        lambda case: "composed" if {"weight", "pos_weight"} & set(case.arrays) else "native"),
    "cross_entropy": Recipe(
        _cross_entropy,
        f"optax.losses.softmax_cross_entropy_with_integer_labels / softmax_cross_entropy "
        f"(axis=1) ({OPTAX}generated/optax.losses.softmax_cross_entropy_with_integer_labels.html); "
        "with weight, label_smoothing or ignored rows composed: q = (1 - ls) * onehot(y) + ls / C "
        "(ignored rows 0), -jnp.sum(w * q * jax.nn.log_softmax(x)) / sum of w[y] over counted "
        "rows (M rows for probability targets)",
        lambda case: "native" if _ce_native(case.arrays, case.params) else "composed"),
    "nll": Recipe(_nll, "composed: -w[y] * jnp.take_along_axis(x, y) with ignored rows 0, "
                  "'mean' / sum of w[y] over counted rows (optax has no NLL loss)", "composed"),
}


RECIPES = {**RECIPES, **FAMILY_RECIPES}


@functools.cache
def _compiled(fn: Callable[..., Any], reduction: str, native: bool | None,
              static: tuple[tuple[str, Any], ...] = ()) -> Callable[..., Any]:
    """jit(value_and_grad) of sum(loss) for one recipe, reduction and (cross-entropy)
    native-or-composed choice; numeric parameters are traced, the ``static`` ones
    (flags, names, and those a recipe lists) are compiled in."""
    jax, jnp, _ = _jax()

    def total(diff: dict[str, Any], const: dict[str, Any], params: dict[str, Any]) -> tuple[Any, Any]:
        params = {**params, **dict(static)}
        if native is not None:
            params = {**params, "_native": native}
        out = fn({**const, **diff}, params, reduction)
        return jnp.sum(out), out
    return jax.jit(jax.value_and_grad(total, has_aux=True))


class JaxAdapter(FrameworkAdapter):
    name = "jax"
    # JAX compiles every new (loss, shape, dtype) and is a run's slowest framework
    # by far; alone at the end of a run it would leave the other core idle, so a
    # run gives it two worker processes, each with every other cell.
    workers = 2
    recipes = RECIPES
    policies_by_loss: Mapping[str, Policy] = FAMILY_POLICIES
    unchecked_values = Policy(
        knobs={}, citation=SHARP_BITS,
        summary="JAX does not raise on invalid values (out-of-range indices, probabilities "
                "outside [0, 1]); it returns a value")

    def _import(self) -> Any:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU
        jax, _, _ = _jax()
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_default_matmul_precision", "highest")   # no TF32 / bf16 passes on GPUs
        cache = os.environ.get("LOSS_CONFORMANCE_JAX_CACHE", os.path.join(".cache", "jax"))
        if cache and jax.config.jax_compilation_cache_dir is None:
            # Re-runs (make test, then make report) load compiled losses from disk.
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        return jax

    def version(self) -> str:
        jax, optax = self._import(), _jax()[2]
        return f"jax {jax.__version__} / optax {optax.__version__}"

    @functools.cache
    def devices(self) -> tuple[str, ...]:
        jax = self._import()
        try:
            with filtered_stderr(GPU_PROBE):
                gpus = jax.devices("gpu")
        except RuntimeError:
            gpus = []
        return ("cpu", "cuda") if gpus else ("cpu",)

    def environment(self) -> dict[str, Any]:
        jax = self._import()
        return {"devices": list(self.devices()), "backend": jax.default_backend(),
                "jax_devices": [str(d) for d in jax.devices()],
                "default_matmul_precision": str(jax.config.jax_default_matmul_precision)}

    def release(self) -> None:
        """Compiled executables are ~5 MB each on CPU and a loss's shapes rarely recur
        in the next loss: free them (the persistent cache makes a recompile cheap)."""
        _compiled.cache_clear()
        self._import().clear_caches()

    def _prepare(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Callable[[], Output]:
        jax = self._import()
        jnp = jax.numpy
        dev = jax.devices("gpu" if device == "cuda" else device)[0]
        const, diff = {}, {}
        for name, a in arrays.items():
            floating = np.issubdtype(a.dtype, np.floating)
            x = jax.device_put(a.astype(jnp.dtype(dtype) if floating else np.int64), dev)
            (diff if floating and name in wrt else const)[name] = x
        native = _ce_native(arrays, params) if recipe.fn is _cross_entropy else None
        fixed = {k for k, v in params.items() if isinstance(v, (bool, str)) or k in recipe.static}
        static = tuple(sorted((k, params[k]) for k in fixed))
        # Python numbers: jit traces them weakly typed, so a float parameter does not
        # promote a float32/float16 computation to float64 (an np.float64 array would).
        traced = {k: v for k, v in params.items() if k not in fixed}
        compiled = _compiled(recipe.fn, reduction, native, static)

        def back(v: Any) -> np.ndarray:
            return np.asarray(v).astype(np.float64)

        def call() -> Output:
            with jax.default_device(dev):
                (_, out), grads = compiled(diff, const, traced)
            return Output(back(out), {n: back(g) for n, g in grads.items()})
        return call
