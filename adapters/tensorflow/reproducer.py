"""How a TensorFlow reproducer builds its tensors and makes the call under a
GradientTape (reports/ writes the script around it)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from conformance.vocab.reproducer import ScriptWriter, Spec, variable

SETUP = '''import os
import sys
import tempfile

# 2: TensorFlow's C++ INFO and WARNING lines off, its ERROR lines kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def quiet_import():
    """(tensorflow, keras). TensorFlow writes INFO lines (oneDNN, CUDA drivers) as it
    loads, before its log level applies, and its GPU probe an E line "failed call to
    cuInit" on a machine without a GPU (placing on /GPU:0 there fails on its own):
    those are dropped, every other line kept."""
    sys.stderr.flush()
    saved, captured = os.dup(2), tempfile.TemporaryFile()
    os.dup2(captured.fileno(), 2)
    try:
        import keras
        import tensorflow
        tensorflow.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        captured.seek(0)
        for line in captured.read().decode(errors="replace").splitlines(keepends=True):
            if not (line[:1] == "I" and line[1:5].isdigit()
                    or line.startswith("WARNING: All log messages before absl::InitializeLog")
                    or "failed call to cuInit" in line):
                sys.stderr.write(line)
        captured.close()
    return tensorflow, keras


tf, keras = quiet_import()'''

HELPERS = '''PLACE = "/GPU:0" if DEVICE == "cuda" else "/CPU:0"


def version():
    return f"tensorflow {tf.__version__} / keras {keras.__version__}"


def tensor(values, dtype):
    """As the suite builds it: floats through float64 to the dtype (exact: the values are
    already rounded to it), integers as they are."""
    if values.dtype.kind == "f":
        return tf.cast(tf.constant(values, tf.float64), getattr(tf, dtype))
    return tf.constant(values, getattr(tf, dtype))


def result(t):
    return tf.cast(tf.convert_to_tensor(t), tf.float64).numpy()'''

#: ops.modules silences C++ log noise through file-descriptor juggling that a
#: reproducer does not need: inlined code gets this instead.
MODULES_SHIM = ('''
@functools.cache
def modules():
    """(tensorflow, keras), imported on first use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow
    return tensorflow, keras
''', ("import functools", "import os"))


class TensorflowWriter(ScriptWriter):
    framework = "tensorflow"
    requires = "TensorFlow and Keras"
    setup = SETUP
    helpers = HELPERS
    tails = {"sum": "tf.reduce_sum(loss)", "mean": "tf.reduce_mean(loss)",
             "batchmean": "tf.reduce_sum(loss) / (loss.shape[0] if loss.shape.rank else 1)"}
    prefixes = {"tf": "tensorflow", "keras": "keras"}
    doc_hosts = ("tensorflow.org", "keras.io")
    reserved = {"os": "os", "sys": "sys", "tempfile": "tempfile", "tf": "tensorflow",
                "keras": "keras", "PLACE": None, "quiet_import": None}
    shims = {"adapters.tensorflow.ops.modules": MODULES_SHIM}

    def tensors(self, arrays: Mapping[str, np.ndarray], dtype: str, device: str, wrt: tuple[str, ...]) -> dict:
        import tensorflow as tf
        with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
            return {name: (tf.cast(tf.constant(a, tf.float64), getattr(tf, dtype))
                           if np.issubdtype(a.dtype, np.floating) else tf.constant(a, tf.int64))
                    for name, a in arrays.items()}

    def is_tensor(self, x: Any) -> bool:
        import tensorflow as tf
        return isinstance(x, (tf.Tensor, tf.Variable))

    def dtype_name(self, x: Any) -> str:
        return x.dtype.name

    def numpy(self, x: Any) -> np.ndarray:
        import tensorflow as tf
        return (tf.cast(x, tf.float64) if x.dtype.is_floating else x).numpy()

    def tail(self, x: Any, kind: str) -> Any:
        import tensorflow as tf
        if kind == "sum":
            return tf.reduce_sum(x)
        if kind == "mean":
            return tf.reduce_mean(x)
        return tf.reduce_sum(x) / (x.shape[0] if x.shape.rank else 1)

    def literal(self, value: Any) -> str | None:
        import tensorflow as tf
        return f"tf.{value.name}" if isinstance(value, tf.DType) else None

    def call_body(self, spec: Spec) -> str:
        grad = spec.grad_of
        lines = ["def compute(arrays):", "    with tf.device(PLACE):", *self.declarations(spec, "        ", "tensor"),
                 "        with tf.GradientTape() as tape:",
                 *[f"            tape.watch({variable(n)})" for n in spec.floating_wrt()],
                 f"            loss = {spec.call.text()}", *self.tail_lines(spec, "            "),
                 "            total = tf.reduce_sum(loss)"]
        if grad is None:
            lines.append("        return result(loss)")
        else:
            v = variable(grad)
            lines += [f"        grad = tape.gradient(total, {v})",
                      f"        return np.zeros({v}.shape) if grad is None else result(grad)"]
        return "\n".join(lines)

    def recipe_body(self, spec: Spec) -> str:
        grad = spec.grad_of
        body = ["", "", "def compute(arrays):", "    with tf.device(PLACE):",
                '        a = {n: tensor(arrays[n], DTYPE if arrays[n].dtype.kind == "f" else "int64") for n in NAMES}',
                "        with tf.GradientTape() as tape:",
                "            for n in WRT:", "                tape.watch(a[n])",
                "            loss = recipe(a, dict(PARAMS), REDUCTION)", "            total = tf.reduce_sum(loss)"]
        body += ["        return result(loss)"] if grad is None else [
            f"        grad = tape.gradient(total, a[{grad!r}])",
            f"        return np.zeros(a[{grad!r}].shape) if grad is None else result(grad)"]
        return "\n".join(spec.recipe_head() + body)


WRITER = TensorflowWriter()
