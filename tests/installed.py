"""The real frameworks for the tests that run them: an adapter, or the test skipped
with the reason the framework does not import here."""
from __future__ import annotations

import pytest

from conformance import frameworks


def adapter(name: str):
    found = frameworks.get(name)
    reason = found.unavailable()
    if reason:
        pytest.skip(reason)
    return found
