"""(to be written) Oracle functions of the ctc family."""
from __future__ import annotations

FUNCTIONS: dict = {}
