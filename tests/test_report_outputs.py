"""The report's DataFrame and what is built from it: the heat-map (outcome and error
colourings), the error histograms (SVG), the CSV/Parquet exports, the Markdown summary,
and `python -m conformance report` writing all four outputs, each on its own."""
from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from conformance.cli import main
from conformance.results import SCHEMA
from conformance.vocab.records import Record
from reports import exports, heatmap, html, markdown, pictures
from reports.frame import COLUMNS, records_frame

META = {"schema": SCHEMA, "profile": "quick", "seed": 7, "dtypes": ["float32", "float16"], "devices": ["cpu"],
        "frameworks": {"torch": "2.13.0+cpu", "jax": "jax 0.10.2 / optax 0.2.8"},
        "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00", "elapsed_s": 60.0,
        "machine": {"python": "3.11", "platform": "linux", "processor": "x86_64"}, "command": "python -m conformance run"}


def rec(framework="torch", loss="mse", outcome="agree", error_eps=0.5, dtype="float32", check="value", **extra):
    r = {"case": f"c-{loss}-{outcome}-{error_eps}", "loss": loss, "variant": "plain", "reduction": "mean",
         "origin": "hypothesis", "framework": framework, "device": "cpu", "dtype": dtype, "check": check,
         "outcome": outcome, "error_eps": error_eps, "k": 16.0, "detail": "", "claimed": True,
         "support": "native", "api": f"{framework}.{loss}"}
    return Record.from_json({**r, **extra})


RECORDS = [
    rec(), rec(error_eps=3.0, check="grad:input"),
    rec(outcome="mismatch", error_eps=250.0, finding="torch-some-known-thing", detail="off by 250 eps"),
    rec("jax"), rec("jax", error_eps=0.0),
    rec("jax", outcome="documented", error_eps="inf", policy_error_eps=2.0, citation="optax docs"),
    rec("torch", "bce", outcome="nonfinite-mismatch", error_eps="inf", detail="NaN | where <b>1.0</b> was due"),
    rec("jax", "bce", outcome="unsupported", error_eps=None, detail="no recipe"),
    rec("torch", dtype="float16", outcome="error-mismatch", error_eps=None, raised="RuntimeError: no half",
        refused="forward"),
    rec("jax", dtype="float16", error_eps=20.0, outcome="mismatch", origin="search",
        search={"explored": 6, "shrink_checks": 3, "shrunk": True, "score": 20.0}),
]


@pytest.fixture()
def frame() -> pd.DataFrame:
    return records_frame(META, RECORDS)


# --------------------------------------------------------------------- the frame

def test_the_frame_has_one_flat_row_per_record_with_the_documented_columns(frame):
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(RECORDS)
    assert frame.loc[0, "framework_version"] == "2.13.0+cpu" and frame.loc[3, "framework_version"].startswith("jax 0.10")
    assert frame.loc[2, ["failing", "explained", "finding"]].tolist() == [True, True, "torch-some-known-thing"]
    assert frame.loc[6, ["failing", "explained", "finding"]].tolist() == [True, False, ""]
    assert math.isinf(frame.loc[6, "error_eps"]) and math.isnan(frame.loc[7, "error_eps"])
    # a documented record is judged by its error beyond the policy
    assert math.isinf(frame.loc[5, "error_eps"]) and frame.loc[5, "verdict_error_eps"] == 2.0
    assert frame.loc[1, "within_tolerance"] and not frame.loc[2, "within_tolerance"]
    assert frame.loc[9, ["search_explored", "search_shrunk", "search_score"]].tolist() == [6, True, 20.0]
    assert pd.isna(frame.loc[0, "search_explored"])
    for column in frame.columns:
        assert all(not isinstance(v, (dict, list)) for v in frame[column]), column


def test_an_empty_run_gives_an_empty_frame_with_the_same_columns():
    empty = records_frame(META, [])
    assert list(empty.columns) == list(COLUMNS) and empty.empty


# ------------------------------------------------------------------- the exports

def test_csv_and_parquet_round_trip_every_column_and_type(frame, tmp_path):
    exports.write_csv(frame, tmp_path / "results.csv")
    exports.write_parquet(frame, tmp_path / "results.parquet")
    pd.testing.assert_frame_equal(exports.read_csv(tmp_path / "results.csv"), frame)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "results.parquet"), frame)
    header = (tmp_path / "results.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",")[:4] == ["loss", "variant", "reduction", "framework"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]       # no temporary file left


# ------------------------------------------------------------------- the heat-map

def test_each_heatmap_cell_takes_the_worst_outcome_and_the_worst_error(frame):
    tables = heatmap.tables(frame)
    assert [t["id"] for t in tables] == ["heatmap-plain"]                          # no modes in this run
    plain = tables[0]
    assert [g["label"] for g in plain["groups"]] == ["cpu · float32", "cpu · float16"]      # DTYPES order
    assert plain["losses"] == ["mse", "bce"]
    assert [key for key, _ in plain["groups"][0]["columns"]] == ["jax", "torch"]
    cells = plain["cells"]
    torch_mse = cells[("mse", "cpu", "float32", "torch")]
    assert (torch_mse.outcome, torch_mse.worst_eps, torch_mse.explained) == ("mismatch", 250.0, True)
    assert (torch_mse.checks, torch_mse.failing, torch_mse.unexplained) == (3, 1, 0)
    assert RECORDS[torch_mse.worst_record].outcome == "mismatch"
    jax_mse = cells[("mse", "cpu", "float32", "jax")]
    assert (jax_mse.outcome, jax_mse.worst_eps, jax_mse.verdict) == ("documented", 2.0, "documented")
    torch_bce = cells[("bce", "cpu", "float32", "torch")]
    assert torch_bce.error_bin == len(heatmap.ERROR_BINS) and torch_bce.unexplained == 1    # infinite, news
    jax_bce = cells[("bce", "cpu", "float32", "jax")]
    assert jax_bce.worst_eps is None and jax_bce.bar_percent == 0 and jax_bce.verdict == "unsupported"
    torch_f16 = cells[("mse", "cpu", "float16", "torch")]
    assert torch_f16.outcome == "error-mismatch" and not torch_f16.explained and torch_f16.verdict == "wrong"
    assert RECORDS[cells[("mse", "cpu", "float16", "jax")].worst_record].origin == "search"


def test_on_a_tie_a_cells_worst_example_is_the_case_the_search_shrank():
    records = [rec(outcome="mismatch", error_eps=40.0), rec(outcome="mismatch", error_eps=40.0, origin="search"),
               rec(outcome="mismatch", error_eps=40.0, origin="edge"), rec(error_eps=99.0, origin="search")]
    cell = heatmap.cells(records_frame(META, records))[("mse", "cpu", "float32", "torch")]
    assert cell.worst_record == 1


@pytest.mark.parametrize("error,bin_", [(0.0, 0), (0.9, 0), (1.0, 1), (16.0, 2), (99.0, 2), (1e3, 3), (1e5, 4),
                                        (1e7, 5), (math.inf, 6), (None, None)])
def test_the_error_scale_puts_each_error_in_its_bin(error, bin_):
    assert heatmap.error_bin(error) == bin_


def test_the_error_bar_grows_with_log10_of_the_error():
    widths = [heatmap.bar_percent(e) for e in (0.0, 0.01, 1.0, 16.0, 1e4, 1e8, 1e30, math.inf)]
    assert widths[0] == 0 and widths == sorted(widths) and widths[-2:] == [100.0, 100.0]
    assert widths[2] == 20.0                       # log10(1) = 0 lies 2 of 10 decades along


class Cells(HTMLParser):
    """The heat-map's cells (td.hm) with their table's id, and the style sheet."""

    def __init__(self) -> None:
        super().__init__()
        self.table, self.cells, self.style, self._in_style = None, [], "", False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs.get("id")
        if tag == "td" and "hm" in (attrs.get("class") or "").split():
            self.cells.append({"table": self.table, **attrs})
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.style += data

    def handle_endtag(self, tag):
        self._in_style = False


def test_the_rendered_heatmap_colours_each_cell_by_its_verdict_and_escapes_inputs(frame):
    pages = html.render_all(META, RECORDS, {}, frame=frame)
    page = pages["report.html"]
    parser = Cells()
    parser.feed(page)
    cells = {(c["data-loss"], c["data-dtype"], c["data-framework"]): c for c in parser.cells}
    found = heatmap.cells(frame)
    assert len(cells) == len(found) == len(parser.cells)
    for (loss, device, dtype, fw), cell in found.items():
        td = cells[(loss, dtype, fw)]
        assert f"v-{cell.verdict}" in td["class"].split() and td["data-verdict"] == cell.verdict
        assert ("new" in td["class"].split()) == bool(cell.unexplained) == (td["data-unexplained"] != "0")
        link = f'href="report-losses/{loss}.html#{cell.anchor}"'
        after = page[page.index(link):]
        fill = re.search(r'hm-fill e(\d+)" style="width:([\d.]+)%', after[:after.index("</td>")])
        if cell.error_bin is None:
            assert fill is None
        else:
            assert (int(fill.group(1)), float(fill.group(2))) == (cell.error_bin, cell.bar_percent)
        assert f'id="{cell.anchor}"' in pages[f"report-losses/{loss}.html"]          # the link's target
    # every verdict has a background of its own, every error bin a colour
    backgrounds = {v: re.search(rf"\.v-{v}\b[^{{]*\{{[^}}]*background: ([^;]+);", parser.style) for v in heatmap.VERDICTS}
    assert all(backgrounds.values()), backgrounds
    assert len({m.group(1) for m in backgrounds.values()}) == len(backgrounds)
    for b in heatmap.legend():
        assert f".e{b['index']} {{ background: {b['colour']}; }}" in parser.style
    everything = "".join(pages.values())
    assert "<b>1.0</b>" not in everything and "&lt;b&gt;1.0&lt;/b&gt;" in everything        # autoescaped


# ---------------------------------------------------------------- the pictures

SVG = "{http://www.w3.org/2000/svg}"


def test_the_error_histograms_are_well_formed_svg_with_a_panel_per_framework(frame):
    pictures_ = pictures.error_histograms(frame)
    assert [(p["device"], p["dtype"]) for p in pictures_] == [("cpu", "float32"), ("cpu", "float16")]
    svg = ET.fromstring(str(pictures_[0]["svg"]))                    # raises if not well-formed XML
    assert svg.tag == f"{SVG}svg"
    panels = svg.findall(f"{SVG}g[@class='panel']")
    assert [g.get("data-framework") for g in panels] == ["jax", "torch"]
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert "k = 16" in texts and "error (eps units, log scale)" in texts and "% of checks" in texts
    # torch float32: 4 measured checks (agree, agree, mismatch, an infinite nonfinite-mismatch)
    torch_bars = [r for r in panels[1].findall(f"{SVG}rect") if r.get("fill")]
    titles = " ".join(r.find(f"{SVG}title").text for r in torch_bars)
    assert "infinite error" in titles
    assert sum(int(r.find(f"{SVG}title").text.split()[0]) for r in torch_bars) == 4
    colours = {r.get("fill") for r in torch_bars}
    assert {pictures.WITHIN, pictures.BEYOND, pictures.INFINITE} <= colours


def test_the_histograms_escape_a_framework_name():
    frame = records_frame(META, [rec("<evil & co>")])
    svg = str(pictures.error_histograms(frame)[0]["svg"])
    assert "<evil" not in svg and "&lt;evil &amp; co&gt;" in svg
    ET.fromstring(svg)


def test_histogram_bins_clip_to_the_axis_and_count_infinities_apart():
    import numpy as np
    counts, infinite = pictures.histogram(np.array([0.0, 1e-9, 1.0, 1e30, np.inf, np.inf]))
    assert infinite == 2 and counts[0] == 2 and counts[-1] == 1 and counts.sum() == 4


def test_no_histogram_bar_holds_errors_both_within_and_beyond_the_tolerance():
    import numpy as np
    frame = records_frame(META, [rec(error_eps=12.0), rec(error_eps=16.0), rec(error_eps=17.0)])
    svg = ET.fromstring(str(pictures.error_histograms(frame)[0]["svg"]))
    bars = [(r.get("fill"), int(r.find(f"{SVG}title").text.split()[0])) for r in svg.iter(f"{SVG}rect")
            if r.get("fill")]
    assert sorted(bars) == sorted([(pictures.WITHIN, 2), (pictures.BEYOND, 1)])
    bounds = pictures.edges(16.0)
    assert math.log10(16.0) in bounds and np.all(np.diff(bounds) > 0)


# ---------------------------------------------------------------- the Markdown

def test_the_markdown_summary_lists_unexplained_failures_first_then_findings_then_documents(frame):
    text = markdown.render(META, frame, documents=[], report="results/report.html",
                           exports=["results/results.csv"])
    sections = [line for line in text.splitlines() if line.startswith("### ")]
    assert sections == ["### Outcomes per framework", "### Unexplained failures", "### Explained by known findings",
                        "### The documents' worked examples"]
    assert "Profile **quick**, seed 7" in text and "torch: 2.13.0+cpu" in text
    assert "**3 unexplained failing check(s)** (4 failing, 1 explained by known findings)" in text
    unexplained = text.split("### Unexplained failures")[1].split("###")[0]
    rows = [r for r in unexplained.splitlines() if r.startswith(("| torch", "| jax"))]
    assert [r.split(" | ")[6] for r in rows] == ["error-mismatch", "nonfinite-mismatch", "mismatch"]   # worst first
    assert rows[0].startswith("| torch | `mse` | plain | value | float16 | cpu | error-mismatch | 1 | — | RuntimeError")
    assert rows[1].startswith("| torch | `bce` | plain | value | float32 | cpu | nonfinite-mismatch | 1 | ∞ |")
    assert "NaN \\| where \\<b\\>1.0\\</b\\> was due" in rows[1]                  # cannot break the table
    assert rows[2].startswith("| jax | `mse` | plain | value | float16 | cpu | mismatch | 1 | 20 |")
    assert "| `torch-some-known-thing` | torch | mismatch 1 | 1 |" in text
    # agree, documented, mismatch, nonfinite-mismatch, error-mismatch, unsupported, total
    assert "| torch | 2 | 0 | 1 | 1 | 1 | 0 | 5 |" in text and "| jax | 2 | 1 | 1 | 0 | 0 | 1 | 5 |" in text
    assert text.rstrip().endswith("Full report: `results/report.html` (also `results/results.csv`).")
    short = markdown.render(META, frame, documents=[], report="r.html", limit=1)
    assert "… and 2 more groups (2 checks)." in short and "| jax | `mse`" not in short.split("### Explained")[0]


def test_the_markdown_summary_gives_the_documents_verdicts_and_lists_the_doubtful_ones(frame):
    import collections
    from reports import summary
    documents = summary.document_table([])
    text = markdown.render(META, frame, documents=documents, report="r.html")
    part = text.split("### The documents' worked examples")[1]
    counts = collections.Counter(row["verdict"].verdict for row in documents)
    assert part.split("\n")[2] == " · ".join(f"{v} {n}" for v, n in sorted(counts.items()))
    doubtful = [row for row in documents if row["verdict"].verdict in ("wrong", "over-precise")]
    assert doubtful, "the source documents hold wrong statements (docs/documents.md)"
    for row in doubtful:
        assert f"| {row['example'].source} § " in part and f"**{row['verdict'].verdict}**" in part
    assert part.count("\n| ") == len(doubtful) + 1        # the header row, then one row each


def test_the_markdown_summary_says_so_when_every_failure_is_known():
    frame = records_frame(META, [rec(), rec(outcome="mismatch", error_eps=99.0, finding="known-one")])
    text = markdown.render(META, frame, documents=[], report="r.html")
    assert "**No unexplained failures** (1 failing, 1 explained by known findings)." in text
    assert "None: every failing check is explained by a known finding." in text


# ------------------------------------------------------------------ the command

@pytest.fixture()
def results(tmp_path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    (d / "run.json").write_text(json.dumps(META))
    (d / "results.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in RECORDS))
    return d


def test_report_writes_html_csv_parquet_and_markdown_and_prints_each_path(results, capsys):
    assert main(["report", str(results)]) == 0
    out = capsys.readouterr().out
    for name in ("report.html", "results.csv", "results.parquet", "summary.md"):
        assert (results / name).is_file(), name
        assert str((results / name).resolve()) in out, name
    assert len(pd.read_parquet(results / "results.parquet")) == len(RECORDS)
    assert "### Unexplained failures" in (results / "summary.md").read_text(encoding="utf-8")


def test_one_output_that_cannot_be_written_loses_none_of_the_others(results, capsys):
    (results / "results.parquet").mkdir()                      # a directory where the file should go
    assert main(["report", str(results)]) == 2
    captured = capsys.readouterr()
    assert "error: Parquet not written to" in captured.err and "results.parquet" in captured.err
    assert "Traceback" not in captured.err
    for name in ("report.html", "results.csv", "summary.md"):
        assert (results / name).is_file() and str((results / name).resolve()) in captured.out, name
    assert (results / "results.parquet").is_dir()


def test_the_report_ranks_the_frameworks_by_ulps_beside_the_verdict():
    records = [rec("torch", dtype="bfloat16", error_ulp=0.9), rec("jax", dtype="bfloat16", error_ulp=0.5),
               rec("numpy", dtype="bfloat16", error_ulp=3.0)]
    page = html.render_all({**META, "dtypes": ["bfloat16"]}, records, {})["report-losses/mse.html"]
    table = page[page.index('id="ulp-ranking"'):]
    table = table[:table.index("</table>")]
    assert "1. jax 0.5 / 0.5 · 2. torch 0.9 / 0.9 · 3. numpy 3 / 3" in table
