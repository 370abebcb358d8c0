"""(to be written) Oracle functions of the keras_regression family."""
from __future__ import annotations

FUNCTIONS: dict = {}
