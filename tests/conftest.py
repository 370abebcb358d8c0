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


@pytest.hookimpl(tryfirst=True)           # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs ``--dist loadgroup``) the tests of one file
    of tests/ share a worker, so a module's expensive fixture (a run, a report) is
    built once; the matrix's cases spread over the workers one by one."""
    for item in items:
        if item.path.parent.name == "tests":
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
