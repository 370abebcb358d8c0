"""The project's own tests run without Hypothesis's example database (so a search
is deterministic for its seed) unless a test points it at a directory of its own."""
from __future__ import annotations

import pytest

from conformance import search


@pytest.fixture(autouse=True)
def _no_example_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(search.DATABASE_ENV, "none")
