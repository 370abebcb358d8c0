"""A user adapter that misbehaves on purpose (tests/test_robustness.py): it kills its
own process on a NaN input, hangs on an empty batch, and is the correct example
adapter otherwise."""
import os
import signal
import time

import numpy as np

from adapters.example_user_adapter import HandWrittenNumpy


class Misbehaving(HandWrittenNumpy):
    name = "misbehaving"

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt):
        x = arrays["input"]
        if np.isnan(x).any():
            os.kill(os.getpid(), signal.SIGSEGV)       # a segfaulting kernel
        if x.size == 0:
            time.sleep(3600)                           # a kernel that never returns
        return super()._run(recipe, arrays, params, reduction, dtype, device, wrt)


ADAPTER = Misbehaving()
