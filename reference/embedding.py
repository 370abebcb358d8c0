"""(to be written) Oracle functions of the embedding family."""
from __future__ import annotations

FUNCTIONS: dict = {}
