"""Render a results directory as HTML: the report (the verdict, the heat-map and the
run's overview) and, in a folder beside it, a page per loss with each cell's detail.
Self-contained: no network, the pages link to each other by relative paths.

Everything that comes from inputs is escaped (Jinja2 autoescape); the only markup not
written by the template is the SVG of reports.pictures, which escapes its own text."""
from __future__ import annotations

import collections
import math
from pathlib import Path
from typing import Any, Mapping

import jinja2
import pandas as pd

from conformance.documents import title
from conformance.results import MARKER
from conformance.vocab import catalog
from conformance.vocab.atomic import remove_stale_temporaries, write_text
from conformance.vocab.case import Case
from conformance.vocab.records import FAILING, Record
from conformance.vocab.tolerance import for_dtype

from . import failure_groups, first_screen, heatmap, pictures, summary
from .frame import records_frame, shown_by_mode, to_float

TEMPLATES = Path(__file__).with_name("templates")
MAIN_WORST_INPUTS = 20     # the search's worst inputs on the first page; each loss's page has its own
CELL_GROUPS = 12           # failing groups listed per cell on a loss's page


def eps_text(value: Any, style: str = "%.3g") -> str:
    """An error in eps units for the page: a number formatted, infinity as ∞, none as —."""
    number = to_float(value)
    if math.isnan(number):
        return "—"
    return "∞" if math.isinf(number) else style % number


def pages_folder(report_name: str) -> str:
    """Where a report's per-loss pages go, beside it: report.html -> report-losses/."""
    return f"{Path(report_name).stem}-losses"


def render_all(meta: Mapping[str, Any], records: list[Record], cases: Mapping[str, Case],
               frame: pd.DataFrame | None = None, documents: list[dict[str, Any]] | None = None,
               baseline: Mapping[str, Any] | None = None, report_name: str = "report.html") -> dict[str, str]:
    """The report and a page per loss, as {path relative to the report's folder: HTML}."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True, lstrip_blocks=True,
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["eps"] = eps_text
    records = shown_by_mode(records)
    frame = records_frame(meta, records, cases) if frame is None else frame
    folder = pages_folder(report_name)
    tables = heatmap.tables(frame)
    by_loss: dict[str, list[int]] = collections.defaultdict(list)
    for i, r in enumerate(records):
        by_loss[r.loss].append(i)
    searched = summary.worst_inputs(records, cases)
    undefined = summary.undefined(records, cases)
    common = {"meta": meta, "error_legend": heatmap.legend()}
    main = env.get_template("report.html.j2").render(
        **common, heatmaps=tables, verdicts=heatmap.VERDICTS,
        page_of=lambda loss: f"{folder}/{loss}.html", pages=set(by_loss),
        first=first_screen.by_framework(frame), since=first_screen.since(baseline, records),
        unexplained=failure_groups.unexplained(frame), explained=failure_groups.by_finding(frame),
        histograms=pictures.error_histograms(frame), coverage=summary.coverage(records),
        edge_coverage=summary.edge_coverage(cases),
        undefined={"count": len(undefined["rows"]), "frameworks": undefined["frameworks"],
                   "rows": [row for row in undefined["rows"] if not row["agree"]]},
        documents=summary.document_table(records) if documents is None else documents,
        document_frameworks=sorted({r.framework for r in records if r.origin == "document"}),
        source_title=title, worst_inputs=searched[:MAIN_WORST_INPUTS], worst_inputs_total=len(searched),
        tolerances=[for_dtype(d) for d in sorted({r.dtype for r in records}, key=summary.dtype_order)],
        catalog=catalog.catalog(), total=len(records))
    out = {report_name: main}
    cells_of = heatmap.by_loss(tables)
    groups = failure_groups.by_cell(frame)
    page = env.get_template("loss.html.j2")
    for loss, indices in by_loss.items():
        mine = [records[i] for i in indices]
        cells = cells_of.get(loss, [])
        out[f"{folder}/{loss}.html"] = page.render(
            **common, loss=loss, spec=catalog.get(loss), back=f"../{report_name}", cells=cells,
            examples={c.worst_record: summary.example(records[c.worst_record], cases, limit=12) for c in cells},
            failing_groups={c.key: groups.get(c.key, []) for c in cells}, group_limit=CELL_GROUPS,
            failing_outcomes=FAILING, matrix=summary.matrix(mine, cases), coverage=summary.coverage(mine),
            support=summary.dtype_support(mine), accuracy=summary.accuracy(mine),
            ulp_ranking=summary.ulp_ranking(mine), undefined=summary.undefined(mine, cases),
            worst_inputs=[w for w in searched if w["key"][0] == loss], by_size=summary.accuracy_by_size(mine, cases))
    return out


def render(meta: Mapping[str, Any], records: list[Record], cases: Mapping[str, Case], **computed: Any) -> str:
    """The report's main page alone (render_all has the loss pages too)."""
    return render_all(meta, records, cases, **computed)["report.html"]


def write_report(meta, records, cases, out: Path, **computed: Any) -> Path:
    """Render and write atomically, the report at ``out`` and its loss pages in the folder
    beside it (a page left from an earlier report of a loss not in this run is removed);
    ``computed``: the frame / documents / baseline when already at hand."""
    out = Path(out)
    pages = render_all(meta, records, cases, report_name=out.name, **computed)
    folder = out.parent / pages_folder(out.name)
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise FileExistsError(f"{folder} holds files loss-conformance did not write; move it to write the report's "
                              "loss pages there")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("loss pages written by `python -m conformance report`\n", encoding="utf-8")
    remove_stale_temporaries(folder, tuple(Path(p).name for p in pages if "/" in p))
    for relative, text in pages.items():
        if relative != out.name:
            write_text(out.parent / relative, text)
    written = {Path(p).name for p in pages}
    for old in folder.glob("*.html"):
        if old.name not in written:
            old.unlink()
    return write_text(out, pages[out.name])

