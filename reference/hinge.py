"""(to be written) Oracle functions of the hinge family."""
from __future__ import annotations

FUNCTIONS: dict = {}
