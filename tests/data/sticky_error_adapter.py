"""A user adapter whose "device" breaks for good after one error, like a CUDA context
after a device-side assert (tests/test_robustness.py): an infinite input raises a
CUDA-style error, and every later call in the same process raises too."""
import numpy as np

from adapters.example_user_adapter import HandWrittenNumpy

BROKEN = []


class StickyError(HandWrittenNumpy):
    name = "sticky"

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt):
        if BROKEN or np.isinf(arrays["input"]).any():
            BROKEN.append(True)
            raise RuntimeError("CUDA error: device-side assert triggered")
        return super()._run(recipe, arrays, params, reduction, dtype, device, wrt)


ADAPTER = StickyError()
