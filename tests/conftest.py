"""The project's own tests run without Hypothesis's example database (so a search
is deterministic for its seed) unless a test points it at a directory of its own."""
from __future__ import annotations

import pytest

from adapters.native_logs import quiet_tensorflow
from conformance import search

quiet_tensorflow()                      # also when the suite's pytest plugin is not loaded


@pytest.fixture(autouse=True)
def _no_example_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(search.DATABASE_ENV, "none")
