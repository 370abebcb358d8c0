"""The HTML report in a real headless browser (Debian's chromium): it loads with no script
error and nothing on the console, its heat-map is in the DOM, and the browser colours
each cell by its outcome.

The page records any script error, failed load or console.error on its <html> element
(``data-script-errors``, see the template's first script); chromium's --dump-dom gives
the DOM after the load event and --enable-logging=stderr prints the console. Without
chromium these tests are skipped, unless CONFORMANCE_REQUIRE_BROWSER=1 (.ci/run sets it),
which makes a missing browser a failure.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.cli import main

TESTS = Path(__file__).resolve().parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
# A user adapter with a wrong MSE gradient: the run then holds agreeing, failing and
# unsupported cells (it has no BCE), and two dtypes.
WRONG_ADAPTER = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from wrong_adapters import WRONG
ADAPTER = next(a for a in WRONG if a.name == "mse_gradient_without_the_2")()
"""


def chromium() -> str:
    found = os.environ.get("CONFORMANCE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install chromium; .ci/run does)"
    if os.environ.get("CONFORMANCE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message}, and CONFORMANCE_REQUIRE_BROWSER=1 requires it")
    pytest.skip(message)


def load(page: Path) -> tuple[str, list[str]]:
    """(the DOM after the load event, the console lines chromium logged)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


class Dom(HTMLParser):
    """The <html> element's attributes, and the heat-map's tables and cells."""

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str | None] = {}
        self.ids: set[str] = set()
        self.tables: dict[str, list[dict]] = {}
        self._table: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.root = attrs
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table":
            self._table = attrs.get("id") if "heatmap" in (attrs.get("class") or "").split() else None
            if self._table:
                self.tables[self._table] = []
        if tag == "td" and self._table and "hm" in (attrs.get("class") or "").split():
            self.tables[self._table].append(attrs)


def parse(dom: str) -> Dom:
    parser = Dom()
    parser.feed(dom)
    return parser


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    chromium()                                        # skip before running anything
    root = tmp_path_factory.mktemp("browser")
    adapter = root / "wrong_adapter.py"
    adapter.write_text(WRONG_ADAPTER)
    out = root / "results"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--frameworks", "numpy", "--adapter", str(adapter), "--losses", "mse,bce",
                     "--dtypes", "float32,float16", "--profile", "smoke", "--isolation", "none",
                     "--out", str(out)]) == 0
        assert main(["report", str(out)]) == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def loaded(report) -> tuple[Dom, list[str]]:
    dom, console = load(report)
    return parse(dom), console


def test_the_report_loads_with_no_script_error_and_nothing_on_the_console(loaded):
    dom, console = loaded
    assert dom.root.get("data-script-errors") == "0", dom.root.get("data-script-error-text")
    assert not console, "\n".join(console)


def test_the_heatmap_is_in_the_dom_with_a_cell_per_loss_and_framework(loaded):
    dom, _ = loaded
    assert {"heatmap", "heatmap-legend", "worst-examples", "matrix"} <= dom.ids
    assert set(dom.tables) == {"heatmap-cpu-float32", "heatmap-cpu-float16"}
    for cells in dom.tables.values():
        assert {(c["data-loss"], c["data-framework"]) for c in cells} == {
            ("mse", "numpy"), ("mse", "mse_gradient_without_the_2"), ("bce", "numpy"),
            ("bce", "mse_gradient_without_the_2")}
    outcomes = {c["data-outcome"] for cells in dom.tables.values() for c in cells}
    assert {"agree", "mismatch", "unsupported"} <= outcomes
    assert {"errors-cpu-float32", "errors-cpu-float16"} <= dom.ids          # the pictures


COLOURS = """<script>
document.querySelectorAll("td.hm").forEach(function (td) {
  td.setAttribute("data-computed-background", getComputedStyle(td).backgroundColor);
});
</script></body>"""


def test_the_browser_colours_each_heatmap_cell_by_its_outcome(report, tmp_path):
    page = tmp_path / "coloured.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", COLOURS), encoding="utf-8")
    dom, console = load(page)
    cells = [c for cells in parse(dom).tables.values() for c in cells]
    by_outcome: dict[str, set[str]] = {}
    for c in cells:
        by_outcome.setdefault(c["data-outcome"], set()).add(c["data-computed-background"])
    assert all(len(colours) == 1 for colours in by_outcome.values()), by_outcome
    colours = [next(iter(v)) for v in by_outcome.values()]
    assert len(set(colours)) == len(colours) >= 3, by_outcome         # one colour per outcome
    assert "rgba(0, 0, 0, 0)" not in colours and not console


def test_a_script_error_in_the_page_would_be_caught(report, tmp_path):
    """The check above can fail: the same page with a script error and a missing image."""
    page = tmp_path / "broken.html"
    page.write_text(report.read_text(encoding="utf-8").replace(
        "</body>", '<script>notAFunction();</script><img src="missing.png"></body>'), encoding="utf-8")
    dom, console = load(page)
    root = parse(dom).root
    assert root.get("data-script-errors") == "2", root
    assert "notAFunction" in root["data-script-error-text"] and "missing.png" in root["data-script-error-text"]
    assert any("notAFunction" in line for line in console)

