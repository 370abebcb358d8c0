"""Modes: the ways a framework's loss is called, an axis of the matrix like dtype and device.

A mode is one of four kinds (``KINDS``): an *execution* mode (eager, a traced graph,
a compiler), a *surface* (the same loss behind another public API: torch's nn.Module
classes, Keras's loss classes), a *precision* mode (torch.autocast) or a
*differentiation* mode (forward-mode automatic differentiation, with a
Hessian-vector product forward-over-reverse).

Every framework has one default mode, its plain call (``Record.mode`` is None
there): eager for PyTorch, TensorFlow and NumPy, ``jax.jit`` for JAX (the adapter
compiles every loss). A record of another mode is judged against the oracle like
any other, and also against the same framework's plain call: a difference beyond
tolerance is ``mode-mismatch``, as a GPU's difference from the CPU is
``device-mismatch``. A mode the framework (or one of its losses) lacks is
``unsupported`` with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("execution", "surface", "precision", "differentiation")


@dataclass(frozen=True)
class Mode:
    kind: str
    summary: str


MODE_TABLE: dict[str, Mode] = {
    "eager": Mode("execution", "op by op, as the Python code runs (torch and TensorFlow by default; "
                               "jax.disable_jit)"),
    "graph": Mode("execution", "traced once into a graph and run by the framework's graph runtime (tf.function)"),
    "compiled": Mode("execution", "traced and compiled whole by a compiler (torch.compile with inductor, "
                                  "jax.jit, tf.function(jit_compile=True) with XLA)"),
    "module": Mode("surface", "the loss's torch.nn Module class (nn.CrossEntropyLoss(...)(input, target)) "
                              "instead of torch.nn.functional"),
    "keras": Mode("surface", "the loss's Keras class (keras.losses.CategoricalCrossentropy(...)(y_true, y_pred, "
                             "sample_weight)) with its own reductions"),
    "autocast": Mode("precision", "inside torch.autocast (bfloat16 on the CPU, float16 on CUDA): the output "
                                  "dtype autocast documents, and the value of the plain call in that dtype"),
    "forward": Mode("differentiation", "the gradient by forward-mode AD (jax.jacfwd, torch.func.jacfwd, "
                                       "tf.autodiff.ForwardAccumulator) and a Hessian-vector product "
                                       "forward-over-reverse, against the oracle's gradient differentiated "
                                       "by finite differences in float64"),
}
for _name, _mode in MODE_TABLE.items():
    if _mode.kind not in KINDS:
        raise ValueError(f"mode {_name!r}: kind {_mode.kind!r} is not one of {KINDS}")

#: name -> what it runs (the help texts' and ``list``'s one line)
MODES: dict[str, str] = {name: m.summary for name, m in MODE_TABLE.items()}
#: ``--modes all``
ALL = "all"


def kind(mode: str) -> str:
    return MODE_TABLE[mode].kind


def label(framework: str, mode: str | None) -> str:
    """How a framework in a mode is named in reports and ids: ``torch``, ``torch-compiled``."""
    return framework if mode is None else f"{framework}-{mode}"


def unlabel(shown: str, mode: str | None) -> str:
    """The framework a column label names, its mode taken off (``label``'s inverse)."""
    return shown[:-len(mode) - 1] if mode and shown.endswith(f"-{mode}") else shown


def parse(option: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """``--modes`` as the command line and the pytest plugin take it: a comma list of
    modes, 'all' or 'none'; ``default`` (the profile's) when not given. ValueError
    names what is unknown and what is accepted."""
    if option is None:
        return default
    if option.strip() == ALL:
        return tuple(MODES)
    if option.strip() == "none":
        return ()
    given = tuple(m.strip() for m in option.split(",") if m.strip())
    unknown = [m for m in given if m not in MODES]
    if unknown or not given:
        raise ValueError(f"unknown mode {', '.join(map(repr, unknown)) or '(empty)'}; known modes: "
                         f"{', '.join(MODES)} (or {ALL}, none)")
    return given
