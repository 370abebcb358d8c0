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

from ..base import FrameworkAdapter, Output, Recipe
from ..native_logs import GPU_PROBE, TF_RAISED, filtered_stderr
from .ops import modules as _modules, tf as _tf
from .recipes import POLICIES, RECIPES


class TensorflowAdapter(FrameworkAdapter):
    name = "tensorflow"
    recipes = RECIPES
    policies_by_loss = POLICIES

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
                 reduction: str, dtype: str, device: str, wrt: tuple[str, ...]) -> Callable[[], Output]:
        tf = self._import()
        tdtype = getattr(tf, dtype)
        place = "/GPU:0" if device == "cuda" else "/CPU:0"
        with filtered_stderr(TF_RAISED), tf.device(place):
            tensors = {name: (tf.cast(tf.constant(a, tf.float64), tdtype)
                              if np.issubdtype(a.dtype, np.floating) else tf.constant(a, tf.int64))
                       for name, a in arrays.items()}
        leaves = [n for n in wrt if n in tensors and tensors[n].dtype.is_floating]

        def call() -> Output:
            with filtered_stderr(TF_RAISED), tf.device(place):
                with tf.GradientTape() as tape:
                    for n in leaves:
                        tape.watch(tensors[n])
                    out = recipe.fn(tensors, params, reduction)
                    total = tf.reduce_sum(out)
                gs = tape.gradient(total, [tensors[n] for n in leaves]) if leaves else []
                grads = {n: (np.zeros(arrays[n].shape) if g is None
                             else tf.cast(tf.convert_to_tensor(g), tf.float64).numpy())
                         for n, g in zip(leaves, gs)}
                return Output(tf.cast(out, tf.float64).numpy(), grads)
        return call
