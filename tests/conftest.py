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


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``make test`` runs ``-n auto --dist loadscope``: the tests of one file of tests/
    are one scope (one worker, so a module's expensive fixture, a run or a report, is
    built once), while each case of the matrix is a scope of its own, spread over the
    workers. (xdist's ``loadgroup`` would say this with markers, but it renames node
    ids through ``item._nodeid``, which pytest 9.2 no longer reads: its groups are lost,
    https://github.com/pytest-dev/pytest-xdist/issues/1386.)"""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TestFileOrMatrixCase(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.startswith("tests/") else nodeid
    return TestFileOrMatrixCase(config, log)
