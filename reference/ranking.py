"""(to be written) Oracle functions of the ranking family."""
from __future__ import annotations

FUNCTIONS: dict = {}
