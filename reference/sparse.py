"""(to be written) Oracle functions of the sparse family."""
from __future__ import annotations

FUNCTIONS: dict = {}
