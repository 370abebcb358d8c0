"""Arrays written literally in the data files (edge cases, document examples)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

ARRAY_KEYS = ("input", "target", "weight", "pos_weight")


def _dtype_of(value: Any) -> str:
    flat = np.asarray(value, dtype=object).ravel().tolist()
    return "int64" if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat) else "float64"


def arrays(entry: Mapping[str, Any], keys: tuple[str, ...] = ARRAY_KEYS) -> dict[str, np.ndarray]:
    """Arrays of an entry: TOML integers stay int64 (class indices), the rest float64.

    ``shapes`` reshapes an array, ``dtypes`` forces one (an empty ``[]`` has no type).
    """
    shapes, dtypes = entry.get("shapes", {}), entry.get("dtypes", {})
    out = {}
    for key in dict.fromkeys((*keys, "target")):
        if key not in entry:
            continue
        dtype = dtypes.get(key, _dtype_of(entry[key]))
        a = np.array(entry[key], dtype=dtype)
        if key in shapes:
            a = a.reshape(shapes[key])
        out[key] = a
    return out
