"""Filter the C++ log noise frameworks print at import, and nothing else.

TensorFlow 2.21 logs INFO lines through absl before ``TF_CPP_MIN_LOG_LEVEL``
takes effect ("oneDNN custom operations are on", "Could not find cuda
drivers"), and JAX's GPU probe logs an E-level "failed call to cuInit" on a
machine without a GPU (the adapter reports "no cuda device" instead). Lines
matching the given patterns are dropped; every other line (warnings, errors)
is written to stderr unchanged.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

#: TensorFlow's C++ log threshold: 1 drops INFO, 2 also WARNING, 3 also ERROR. 2: its
#: INFO and WARNING lines are start-up and tracing chatter the suite records nothing
#: from, while an ERROR line (a device failing, a kernel missing) is one a person must
#: see; a value already in the environment (0 to see everything) is kept.
TF_CPP_MIN_LOG_LEVEL = "2"


def quiet_tensorflow() -> None:
    """Set TensorFlow's log threshold for this process and its children; it must come
    before TensorFlow's import (every entry point calls it first)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_CPP_MIN_LOG_LEVEL)


ABSL_INFO = (re.compile(r"^I\d{4} "), re.compile(r"^WARNING: All log messages before absl::InitializeLog"))
#: TF logs each op error it then raises (the engine records the exception
#: itself), and logs at E level that half-precision oneDNN kernels fall back to
#: Eigen on CPUs without AVX-512: information, not an error of the run.
TF_RAISED = ABSL_INFO + (re.compile(r"^W\d{4} .*(OP_REQUIRES failed|Local rendezvous is aborting)"),
                         re.compile(r"oneDNN supports DT_HALF only on platforms with AVX-512"))
#: A GPU probe on a machine without one: the adapter reports that itself.
GPU_PROBE = ABSL_INFO + (re.compile(r"failed call to cuInit"),)


@contextmanager
def filtered_stderr(noise: tuple[re.Pattern[str], ...] = ABSL_INFO) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not any(p.search(line) for p in noise):
                    sys.stderr.write(line)
            sys.stderr.flush()
