"""The HTML report in a real headless browser (Debian's chromium): it loads with no script
error and nothing on the console, its heat-map is in the DOM, the browser colours each
cell by its verdict, and every cell links to its detail on its loss's page. A report the
size of the default profile's (tests/default_sized.py) holds the unexplained count in
its first viewport at 1440x900, does not overflow 1440 pixels, and loads in a second.

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
from reports import html

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
        self._cell: dict | None = None

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
            self._cell = attrs
        if tag == "a" and self._cell is not None:
            self._cell["href"] = attrs.get("href")
            self._cell = None


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


@pytest.mark.slow
def test_the_report_loads_with_no_script_error_and_nothing_on_the_console(loaded):
    dom, console = loaded
    assert dom.root.get("data-script-errors") == "0", dom.root.get("data-script-error-text")
    assert not console, "\n".join(console)


@pytest.mark.slow
def test_the_heatmap_is_in_the_dom_with_a_cell_per_loss_framework_and_dtype(loaded):
    dom, _ = loaded
    assert {"verdict", "unexplained-count", "contents", "heatmap", "heatmap-legend", "documents-table"} <= dom.ids
    assert set(dom.tables) == {"heatmap-plain"}
    cells = dom.tables["heatmap-plain"]
    assert {(c["data-loss"], c["data-framework"], c["data-dtype"]) for c in cells} == {
        (loss, fw, dt) for loss in ("mse", "bce") for fw in ("numpy", "mse_gradient_without_the_2")
        for dt in ("float32", "float16")}
    verdicts = {c["data-verdict"] for c in cells}
    assert {"agree", "wrong", "unsupported"} <= verdicts
    assert {"errors-cpu-float32", "errors-cpu-float16"} <= dom.ids          # the pictures


COLOURS = """<script>
document.querySelectorAll("td.hm").forEach(function (td) {
  td.setAttribute("data-computed-background", getComputedStyle(td).backgroundColor + " " + getComputedStyle(td).backgroundImage);
});
</script></body>"""


@pytest.mark.slow
def test_the_browser_colours_each_heatmap_cell_by_its_verdict(report, tmp_path):
    page = report.with_name("coloured.html")
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", COLOURS), encoding="utf-8")
    dom, console = load(page)
    cells = [c for cells in parse(dom).tables.values() for c in cells]
    by_verdict: dict[str, set[str]] = {}
    for c in cells:
        by_verdict.setdefault(c["data-verdict"], set()).add(c["data-computed-background"])
    assert all(len(colours) == 1 for colours in by_verdict.values()), by_verdict
    colours = [next(iter(v)) for v in by_verdict.values()]
    assert len(set(colours)) == len(colours) >= 3, by_verdict         # one colour per verdict
    assert not any(c.startswith("rgba(0, 0, 0, 0) none") for c in colours) and not console


@pytest.mark.slow
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



@pytest.mark.slow
def test_every_heatmap_cell_links_to_its_detail_on_its_loss_page(report, loaded):
    dom, _ = loaded
    cells = [c for cells in dom.tables.values() for c in cells]
    assert cells and all(c.get("href") for c in cells)
    for c in cells:
        page, _, anchor = c["href"].partition("#")
        target = report.parent / page
        assert target.is_file(), c["href"]
        assert f'id="{anchor}"' in target.read_text(encoding="utf-8"), c["href"]
        assert anchor.endswith(f"-{c['data-device']}-{c['data-dtype']}") and c["data-framework"] in anchor
    page_dom, console = load(report.parent / cells[0]["href"].partition("#")[0])     # a loss's page, in the browser
    assert parse(page_dom).root.get("data-script-errors") == "0" and not console


# ---------------------------------------------------------- a default-sized report

VIEWPORT = (1440, 900)
LOAD_BUDGET_MS = 1000          # the report opens in under a second
SIZE_BUDGET = 3_000_000        # a few MB at most
PROBE = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var t = performance.timing, r = document.documentElement, head = document.getElementById("unexplained-count");
  r.setAttribute("data-load-ms", String(t.loadEventEnd - t.navigationStart));
  r.setAttribute("data-scroll-width", String(document.documentElement.scrollWidth));
  r.setAttribute("data-nodes", String(document.getElementsByTagName("*").length));
  r.setAttribute("data-headline-bottom", head ? String(head.getBoundingClientRect().bottom) : "missing");
  r.setAttribute("data-headline-text", head ? head.textContent.replace(/\\s+/g, " ").trim() : "");
}, 0); });
</script>"""


def probe(page: Path) -> dict[str, str | None]:
    """The page loaded at 1440x900, measured by PROBE after its load event."""
    probed = page.with_name(f"probed-{page.name}")
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
                               "--hide-scrollbars", "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return parse(done.stdout).root


@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> Path:
    chromium()
    import default_sized
    meta, records = default_sized.run()
    out = tmp_path_factory.mktemp("default") / "report.html"
    html.write_report(meta, records, {}, out)
    return out


@pytest.mark.slow
def test_a_default_sized_report_shows_its_verdict_first_fits_1440_pixels_and_loads_in_a_second(default_report):
    assert default_report.stat().st_size <= SIZE_BUDGET
    root = probe(default_report)
    assert root.get("data-script-errors") == "0", root.get("data-script-error-text")
    assert "unexplained" in root["data-headline-text"] and root["data-headline-text"][0].isdigit()
    assert float(root["data-headline-bottom"]) <= VIEWPORT[1], root          # in the first viewport
    assert int(root["data-scroll-width"]) <= VIEWPORT[0], root               # no horizontal overflow
    # a load time is a timing: the fastest of up to three loads, since make test's other
    # workers share the cores (one load took 1,030 ms beside them, 320-390 ms alone)
    loads = [int(root["data-load-ms"])]
    while min(loads) > LOAD_BUDGET_MS and len(loads) < 3:
        loads.append(int(probe(default_report)["data-load-ms"]))
    assert min(loads) <= LOAD_BUDGET_MS, loads


@pytest.mark.slow
def test_the_probe_would_see_an_overflow_and_a_verdict_pushed_below_the_fold(default_report):
    """The measurements above can fail: the same page with a 3000-pixel banner on top."""
    page = default_report.with_name("pushed.html")
    page.write_text(default_report.read_text(encoding="utf-8").replace(
        "<body>", '<body><div style="width: 3000px; height: 1200px">banner</div>', 1), encoding="utf-8")
    root = probe(page)
    assert float(root["data-headline-bottom"]) > VIEWPORT[1] and int(root["data-scroll-width"]) > VIEWPORT[0]
