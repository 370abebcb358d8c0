"""Execution modes: how a framework runs a loss, an axis of the matrix like dtype and device.

Every framework has one default mode, the one its plain call uses (``Record.mode``
is None there): eager for PyTorch, TensorFlow and NumPy, ``jax.jit`` for JAX (the
adapter compiles every loss). A record of another mode is judged against the
oracle like any other, and also against the same framework's default-mode
result: a difference beyond tolerance is ``mode-mismatch``, as a GPU's difference
from the CPU is ``device-mismatch``. A mode the framework lacks is ``unsupported``
with the reason.
"""
from __future__ import annotations

MODES: dict[str, str] = {
    "eager": "op by op, as the Python code runs (torch and TensorFlow by default; jax.disable_jit)",
    "graph": "traced once into a graph and run by the framework's graph runtime (tf.function)",
    "compiled": "traced and compiled whole by a compiler (torch.compile with inductor, jax.jit, "
                "tf.function(jit_compile=True) with XLA)",
}
#: ``--modes all``
ALL = "all"


def label(framework: str, mode: str | None) -> str:
    """How a framework in a mode is named in reports and ids: ``torch``, ``torch-compiled``."""
    return framework if mode is None else f"{framework}-{mode}"


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
