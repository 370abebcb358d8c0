"""docs/coverage.md and docs/findings.md are generated from the data: the committed
pages must be what the data says (regenerate with python -m conformance docs)."""
from __future__ import annotations

import contextlib
import io

from conformance.cli import main
from conformance.commands import docs
from conformance.vocab import findings


def test_the_committed_pages_are_what_the_data_says():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["docs", "--check"]) == 0, err.getvalue()


def test_a_changed_finding_makes_the_findings_page_stale(tmp_path, monkeypatch):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["docs", "--out", str(tmp_path)]) == 0
    assert main(["docs", "--check", "--out", str(tmp_path)]) == 0
    changed = findings.findings()[:-1]                   # one finding retired
    monkeypatch.setattr(docs.data_docs, "findings", lambda: changed)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(["docs", "--check", "--out", str(tmp_path)]) == 1
    assert "findings.md" in err.getvalue() and "coverage.md" not in err.getvalue()
