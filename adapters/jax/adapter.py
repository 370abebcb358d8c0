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

Each (recipe, reduction, compiled-in parameters) is compiled once with ``jax.jit``
(value and gradient together); the loss's numeric parameters are traced
arguments, so one executable serves every parameter value of a shape. Eager
dispatch would compile every primitive for every new shape; one jit compiles the
whole loss once per shape. float64 through
``jax_enable_x64``, on the device the engine names ("cpu" or "cuda").
"""
from __future__ import annotations

import functools
import os
from typing import Any, Callable, Mapping

import numpy as np

from ..base import FrameworkAdapter, ModeUnsupported, Output, Policy, Recipe, hvp_direction
from ..native_logs import GPU_PROBE, filtered_stderr
from .ops import jax_modules as _jax, weighted
from .recipes import POLICIES, RECIPES

SHARP_BITS = ("https://docs.jax.dev/en/latest/notebooks/Common_Gotchas_in_JAX.html"
              "#out-of-bounds-indexing")


def split_params(recipe: Recipe, arrays: Mapping[str, np.ndarray],
                 params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(traced, static) parameters as jit gets them: flags, strings, the recipe's
    ``static`` ones and its ``decided`` ones are compiled in; numbers are traced."""
    static = {k: v for k, v in params.items() if isinstance(v, (bool, str)) or k in recipe.static}
    if recipe.decided is not None:
        static.update(recipe.decided(arrays, params))
    return {k: v for k, v in params.items() if k not in static}, static


def _total(fn: Callable[..., Any], reduction: str, static: tuple[tuple[str, Any], ...]) -> Callable[..., Any]:
    """sum(loss) and the loss, of the differentiated arguments."""
    _, jnp, _ = _jax()

    def total(diff: dict[str, Any], const: dict[str, Any], params: dict[str, Any]) -> tuple[Any, Any]:
        out = fn({**const, **diff}, {**params, **dict(static)}, reduction)
        return jnp.sum(out), out
    return total


@functools.cache
def _compiled(fn: Callable[..., Any], reduction: str, static: tuple[tuple[str, Any], ...] = ()) -> Callable[..., Any]:
    """jit(value_and_grad) of sum(loss) for one recipe and reduction; numeric
    parameters are traced, the ``static`` ones are compiled in."""
    jax = _jax()[0]
    return jax.jit(jax.value_and_grad(_total(fn, reduction, static), has_aux=True))


def _eager(fn: Callable[..., Any], reduction: str, static: tuple[tuple[str, Any], ...] = ()) -> Callable[..., Any]:
    """value_and_grad of sum(loss) op by op: no jit, and jax.disable_jit() around the
    call, so optax's own jitted functions run op by op too."""
    jax = _jax()[0]
    grad = jax.value_and_grad(_total(fn, reduction, static), has_aux=True)

    def call(*args: Any) -> Any:
        with jax.disable_jit():
            return grad(*args)
    return call


@functools.cache
def _forward(fn: Callable[..., Any], reduction: str, static: tuple[tuple[str, Any], ...] = ()) -> Callable[..., Any]:
    """jit of the loss and the gradient of its sum by forward mode (jax.jacfwd)."""
    jax = _jax()[0]
    total = _total(fn, reduction, static)

    def run(diff: dict[str, Any], const: dict[str, Any], params: dict[str, Any]) -> tuple[Any, Any]:
        grads = jax.jacfwd(lambda d: total(d, const, params)[0])(diff)
        return total(diff, const, params)[1], grads
    return jax.jit(run)


@functools.cache
def _hvp(fn: Callable[..., Any], reduction: str, static: tuple[tuple[str, Any], ...] = ()) -> Callable[..., Any]:
    """jit of H v per differentiated argument, forward-over-reverse: jax.jvp of jax.grad
    (https://docs.jax.dev/en/latest/notebooks/autodiff_cookbook.html#hessian-vector-products-using-both-forward-and-reverse-mode)."""
    jax = _jax()[0]
    total = _total(fn, reduction, static)

    def run(diff: dict[str, Any], const: dict[str, Any], params: dict[str, Any], v: dict[str, Any]) -> dict[str, Any]:
        def grad_of(n: str) -> Callable[[Any], Any]:
            return lambda x: jax.grad(lambda d: total(d, const, params)[0])({**diff, n: x})[n]
        return {n: jax.jvp(grad_of(n), (diff[n],), (v[n],))[1] for n in diff}
    return jax.jit(run)


class JaxAdapter(FrameworkAdapter):
    name = "jax"
    # JAX compiles every new (loss, shape, dtype) and is a run's slowest framework
    # by far; alone at the end of a run it would leave the other core idle, so a
    # run gives it two worker processes, each with every other cell.
    workers = 2
    recipes = RECIPES
    policies_by_loss: Mapping[str, Policy] = POLICIES
    default_mode = "compiled"
    modes = {"eager": "op by op under jax.disable_jit(), value_and_grad not jitted",
             "forward": "jit(jax.jacfwd) for the gradient; H v = jax.jvp(jax.grad) (forward-over-reverse)"}
    modes_lacking = {"graph": "JAX has no graph mode apart from jax.jit (its compiled mode, the default)",
                     "module": "JAX and optax losses are functions: there is no class surface",
                     "keras": "Keras's loss classes are TensorFlow's surface",
                     "autocast": "JAX has no autocast: a computation runs in its arrays' dtypes"}
    unchecked_values = Policy(
        knobs={}, citation=SHARP_BITS,
        summary="JAX does not raise on invalid values (out-of-range indices, probabilities "
                "outside [0, 1]); it returns a value")

    def weigh(self, terms: Any, weights: Any, reduction: str) -> Any:
        return weighted(terms, weights, reduction)

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
        for cache in (_compiled, _forward, _hvp):
            cache.cache_clear()
        self._import().clear_caches()

    def _prepare(self, recipe, arrays, params, reduction, dtype, device, wrt, mode=None) -> Callable[[], Output]:
        if mode not in (None, "eager", "forward"):
            raise ValueError(f"jax runs no {mode!r} mode here")
        jax = self._import()
        jnp = jax.numpy
        dev = jax.devices("gpu" if device == "cuda" else device)[0]
        # the default mode compiles one executable per shape: a recipe may pad to buckets
        bucketed = recipe.padded(arrays, params) if recipe.padded is not None and mode is None else None
        arrays, crop = bucketed if bucketed is not None else (arrays, {})
        const, diff = {}, {}
        for name, a in arrays.items():
            floating = np.issubdtype(a.dtype, np.floating)
            x = jax.device_put(a.astype(jnp.dtype(dtype) if floating else np.int64), dev)
            (diff if floating and name in wrt else const)[name] = x
        # Python numbers: jit traces them weakly typed, so a float parameter does not
        # promote a float32/float16 computation to float64 (an np.float64 array would).
        traced, static = split_params(recipe, arrays, params)
        static_items = tuple(sorted(static.items()))

        def back(v: Any) -> np.ndarray:
            return np.asarray(v).astype(np.float64)

        if mode == "forward":
            return lambda: _forward_mode(jax, dev, recipe, reduction, static_items, diff, const, traced, back)
        compiled = (_eager if mode == "eager" else _compiled)(recipe.fn, reduction, static_items)

        def call() -> Output:
            with jax.default_device(dev):
                (_, out), grads = compiled(diff, const, traced)
            return Output(back(out), {n: back(g)[crop[n]] if n in crop else back(g) for n, g in grads.items()})
        return call


def _forward_mode(jax: Any, dev: Any, recipe: Recipe, reduction: str, static: tuple, diff: dict, const: dict,
                  traced: dict, back: Callable[[Any], np.ndarray]) -> Output:
    """The value and the forward-mode gradient; H v where the recipe's reverse pass is
    itself differentiable forward (a custom_vjp's backward may not be)."""
    with jax.default_device(dev):
        if not diff:                    # nothing differentiated (an input the oracle refuses): the value
            (_, out), _ = _compiled(recipe.fn, reduction, static)(diff, const, traced)
            return Output(back(out), {})
        try:
            out, grads = _forward(recipe.fn, reduction, static)(diff, const, traced)
        except TypeError as exc:
            if "forward-mode" in str(exc) or "jvp" in str(exc):
                raise ModeUnsupported(f"no forward-mode rule: {' '.join(str(exc).split())[:200]}") from None
            raise
        v = {n: jax.device_put(hvp_direction(tuple(x.shape), n).astype(x.dtype), dev) for n, x in diff.items()}
        try:
            hvp = {n: back(h) for n, h in _hvp(recipe.fn, reduction, static)(diff, const, traced, v).items()}
        except TypeError:
            hvp = {}
    return Output(back(out), {n: back(g) for n, g in grads.items()}, hvp=hvp)
