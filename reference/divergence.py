"""(to be written) Oracle functions of the divergence family."""
from __future__ import annotations

FUNCTIONS: dict = {}
