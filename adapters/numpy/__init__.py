"""NumPy: the suite's baseline (the oracle's formulas in the test dtype)."""
