"""Render a results directory as one self-contained HTML file (no network).

Everything that comes from inputs is escaped (Jinja2 autoescape); the only markup not
written by the template is the SVG of reports.pictures, which escapes its own text."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import jinja2
import pandas as pd

from conformance.vocab import catalog
from conformance.vocab.case import Case
from conformance.vocab.findings import findings
from conformance.vocab.tolerance import for_dtype

from . import heatmap, pictures, summary
from conformance.vocab.atomic import write_text
from .frame import records_frame, shown_by_mode, to_float

TEMPLATES = Path(__file__).with_name("templates")


def worst_examples(panels: list[dict[str, Any]], records: list[dict[str, Any]],
                   cases: Mapping[str, Case]) -> dict[int, dict[str, Any]]:
    """The worst record of each heat-map cell, shown in full, by record index."""
    chosen = {cell.worst_record for panel in panels for cell in panel["cells"].values()}
    return {i: summary.example(records[i], cases, limit=12) for i in sorted(chosen)}


def eps_text(value: Any, style: str = "%.3g") -> str:
    """An error in eps units for the page: a number formatted, infinity as ∞, none as —."""
    number = to_float(value)
    if math.isnan(number):
        return "—"
    return "∞" if math.isinf(number) else style % number


def render(meta: Mapping[str, Any], records: list[dict[str, Any]], cases: Mapping[str, Case],
           frame: pd.DataFrame | None = None, documents: list[dict[str, Any]] | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["eps"] = eps_text
    records = shown_by_mode(records)
    frame = records_frame(meta, records) if frame is None else frame
    dtypes = sorted({r.dtype for r in records})
    panels = heatmap.panels(frame)
    return env.get_template("report.html.j2").render(
        meta=meta, heatmaps=panels, error_legend=heatmap.legend(),
        worst_examples=worst_examples(panels, records, cases),
        histograms=pictures.error_histograms(frame),
        matrix=summary.matrix(records, cases), coverage=summary.coverage(records),
        edge_coverage=summary.edge_coverage(cases), undefined=summary.undefined(records, cases),
        discrepancies=summary.discrepancies(records, cases),
        documents=summary.document_table(records) if documents is None else documents,
        support=summary.dtype_support(records), accuracy=summary.accuracy(records),
        ulp_ranking=summary.ulp_ranking(records),
        worst_inputs=summary.worst_inputs(records, cases),
        by_size=summary.accuracy_by_size(records, cases),
        tolerances=[for_dtype(d) for d in dtypes],
        catalog=catalog.catalog(), findings=findings(), total=len(records))


def write_report(meta, records, cases, out: Path, **computed: Any) -> Path:
    """Render and write atomically; ``computed``: the frame / documents when already at hand."""
    return write_text(Path(out), render(meta, records, cases, **computed))
