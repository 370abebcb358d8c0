"""TensorFlow's forward mode: the gradient by tf.autodiff.ForwardAccumulator (a unit
tangent per element) and a Hessian-vector product forward-over-backward."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..base import ModeUnsupported, Output, hvp_direction
from ..native_logs import TF_RAISED, filtered_stderr

#: forward-mode gradients take one forward pass per element: past this many elements
#: of the differentiated arguments the forward mode is not run
FORWARD_ELEMENTS = 4096


def forward_mode(tf: Any, place: str, fn: Callable[..., Any], tensors: dict[str, Any], params: dict[str, Any],
                  reduction: str, leaves: tuple[str, ...], arrays: Mapping[str, np.ndarray]) -> Output:
    """The value, the gradient of its sum by forward accumulation (a unit tangent per element)
    and H v forward-over-backward (https://www.tensorflow.org/guide/advanced_autodiff#hessian)."""
    if sum(int(np.prod(arrays[n].shape)) for n in leaves) > FORWARD_ELEMENTS:
        raise ModeUnsupported(f"more than {FORWARD_ELEMENTS} differentiated elements: one forward pass each")
    with filtered_stderr(TF_RAISED), tf.device(place):
        out = fn(dict(tensors), params, reduction)
        grads, hvp = {}, {}
        for n in leaves:
            x = tensors[n]
            size = int(np.prod(arrays[n].shape))
            flat = np.zeros(size)
            for i in range(size):
                tangent = tf.reshape(tf.one_hot(i, size, dtype=x.dtype), x.shape)
                with tf.autodiff.ForwardAccumulator(x, tangent) as acc:
                    total = tf.reduce_sum(fn({**tensors, n: x}, params, reduction))
                d = acc.jvp(total)
                flat[i] = 0.0 if d is None else float(tf.cast(d, tf.float64).numpy())
            grads[n] = flat.reshape(arrays[n].shape)
            v = tf.constant(hvp_direction(tuple(arrays[n].shape), n), dtype=x.dtype)
            with tf.autodiff.ForwardAccumulator(x, v) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    total = tf.reduce_sum(fn({**tensors, n: x}, params, reduction))
                g = tape.gradient(total, x)
            hv = acc.jvp(g) if g is not None else None
            hvp[n] = np.zeros(arrays[n].shape) if hv is None else tf.cast(hv, tf.float64).numpy()
        return Output(tf.cast(out, tf.float64).numpy(), grads, hvp=hvp)
