"""(to be written) Oracle functions of the focal family."""
from __future__ import annotations

FUNCTIONS: dict = {}
