"""TensorFlow 2 / Keras 3: TF and Keras's own losses where they exist, tf ops elsewhere.

Keras's regression losses average over the last axis first, so only their
'mean' ("sum_over_batch_size") is the elementwise mean; 'none' and 'sum' are
composed from tf ops. Keras losses compute in ``keras.config.floatx()``
(float32) unless given ``dtype``: the adapter always passes the test dtype.
Cross-entropy uses tf.nn's fused ops when the case is plain (no weight, no
smoothing, no ignored row) and is composed from ``tf.nn.log_softmax`` otherwise;
TF has no weighted/ignored/smoothed softmax cross-entropy and no NLL loss.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import numpy as np

from ..base import FrameworkAdapter, Output, Recipe, Support
from ..native_logs import GPU_PROBE, TF_RAISED, filtered_stderr
from . import keras_classes
from .forward import forward_mode
from .ops import modules as _modules, tf as _tf, weighted
from .recipes import POLICIES, RECIPES


def _forward_backward(tf: Any, fn: Callable[..., Any], params: dict[str, Any], reduction: str,
                      leaves: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, list[Any]]]:
    """The loss and the gradients of its sum w.r.t. ``leaves`` (None where unconnected)."""
    def step(tensors: dict[str, Any]) -> tuple[Any, list[Any]]:
        with tf.GradientTape() as tape:
            for n in leaves:
                tape.watch(tensors[n])
            out = fn(tensors, params, reduction)
            total = tf.reduce_sum(out)
        return out, (tape.gradient(total, [tensors[n] for n in leaves]) if leaves else [])
    return step


#: tf.function's options per mode: a graph, or a graph compiled whole by XLA.
#: autograph is off: the recipes have no tensor-dependent Python control flow,
#: and autograph would rewrite the framework's error messages.
FUNCTION_OPTIONS = {"graph": {"autograph": False}, "compiled": {"autograph": False, "jit_compile": True}}


class TensorflowAdapter(FrameworkAdapter):
    name = "tensorflow"
    recipes = RECIPES
    policies_by_loss = POLICIES
    modes = {"graph": "tf.function(forward and GradientTape backward)",
             "compiled": "tf.function(..., jit_compile=True): the graph compiled by XLA",
             "forward": "the gradient by tf.autodiff.ForwardAccumulator (one tangent per element) and H v "
                        "forward-over-backward (a ForwardAccumulator around a GradientTape), eagerly",
             "keras": keras_classes.SUMMARY}
    modes_lacking = {"module": "torch's nn.Module classes are torch's surface (TensorFlow's class surface is "
                               "the keras mode)",
                     "autocast": "TensorFlow has no autocast of a loss call: Keras's mixed-precision policy sets "
                                 "layers' compute dtypes, and a loss runs in the dtype it is given"}

    modes_weighing = ("keras",)

    def __init__(self) -> None:
        self._functions: dict[tuple, Any] = {}

    def release(self) -> None:
        """Traced functions are dropped with their loss."""
        self._functions.clear()

    def _function(self, tf: Any, recipe: Recipe, params: dict[str, Any], reduction: str,
                  leaves: tuple[str, ...], mode: str) -> Any:
        """One tf.function per (recipe, parameters, reduction, differentiated arguments,
        mode), kept for the loss: it retraces only for a new shape."""
        key = (recipe.fn, repr(sorted(params.items())), reduction, leaves, mode)
        if key not in self._functions:
            self._functions[key] = tf.function(_forward_backward(tf, recipe.fn, params, reduction, leaves),
                                               reduce_retracing=False, **FUNCTION_OPTIONS[mode])
        return self._functions[key]

    def weigh(self, terms: Any, weights: Any, reduction: str) -> Any:
        return weighted(terms, weights, reduction)

    def mode_support(self, case: Any, mode: str) -> Support | None:
        if mode != "keras" or case.loss not in keras_classes.SURFACES:
            return None
        name = keras_classes.SURFACES[case.loss].class_name(case.arrays)
        return Support("native", f"keras.losses.{name} ({keras_classes.SUMMARY})")

    def mode_unsupported(self, mode: str, loss: str | None = None) -> str | None:
        if mode == "keras" and loss is not None:
            return keras_classes.lacking(loss)
        return super().mode_unsupported(mode, loss)

    def _import(self) -> Any:
        tf = _tf()
        tf.config.experimental.enable_tensor_float_32_execution(False)   # full float32 on GPUs
        return tf

    def environment(self) -> dict[str, Any]:
        tf = self._import()
        return {"devices": list(self.devices()),
                "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
                "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
                "cuda_build": tf.sysconfig.get_build_info().get("cuda_version")}

    def version(self) -> str:
        tf, keras = _modules()
        return f"tensorflow {tf.__version__} / keras {keras.__version__}"

    @functools.cache
    def devices(self) -> tuple[str, ...]:
        tf = self._import()
        with filtered_stderr(GPU_PROBE):
            gpus = tf.config.list_physical_devices("GPU")
        return ("cpu", "cuda") if gpus else ("cpu",)

    def _prepare(self, recipe: Recipe, arrays: Mapping[str, np.ndarray], params: dict[str, Any],
                 reduction: str, dtype: str, device: str, wrt: tuple[str, ...],
                 mode: str | None = None) -> Callable[[], Output]:
        if mode not in (None, "forward", "keras", *FUNCTION_OPTIONS):
            raise ValueError(f"tensorflow runs no {mode!r} mode here")
        if mode == "keras":    # the loss's Keras class in place of the recipe (ModeUnsupported where it has none)
            loss = next(name for name, r in self.recipes.items() if r is recipe)
            recipe = Recipe(keras_classes.function(loss, arrays, params, reduction), recipe.api)
        tf = self._import()
        tdtype = getattr(tf, dtype)
        place = "/GPU:0" if device == "cuda" else "/CPU:0"
        with filtered_stderr(TF_RAISED), tf.device(place):
            tensors = {name: (tf.cast(tf.constant(a, tf.float64), tdtype)
                              if np.issubdtype(a.dtype, np.floating) else tf.constant(a, tf.int64))
                       for name, a in arrays.items()}
        leaves = tuple(n for n in wrt if n in tensors and tensors[n].dtype.is_floating)
        if mode == "forward":
            return lambda: forward_mode(tf, place, recipe.fn, tensors, params, reduction, leaves, arrays)
        if mode in FUNCTION_OPTIONS and recipe.decided is not None:   # what the recipe reads from the values
            params = {**params, **recipe.decided(arrays, params)}
        step = (_forward_backward(tf, recipe.fn, params, reduction, leaves) if mode in (None, "keras")
                else self._function(tf, recipe, params, reduction, leaves, mode))

        def call() -> Output:
            with filtered_stderr(TF_RAISED), tf.device(place):
                out, gs = step(dict(tensors))
                grads = {n: (np.zeros(arrays[n].shape) if g is None
                             else tf.cast(tf.convert_to_tensor(g), tf.float64).numpy())
                         for n, g in zip(leaves, gs)}
                return Output(tf.cast(out, tf.float64).numpy(), grads)
        return call
