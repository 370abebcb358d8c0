"""Render a results directory as one self-contained HTML file (no network).

Everything that comes from inputs is escaped (Jinja2 autoescape)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import jinja2

from conformance import catalog
from conformance.case import Case
from conformance.findings import findings
from conformance.tolerance import for_dtype

from . import summary

TEMPLATES = Path(__file__).with_name("templates")


def render(meta: Mapping[str, Any], records: list[dict[str, Any]], cases: Mapping[str, Case]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    dtypes = sorted({r["dtype"] for r in records})
    return env.get_template("report.html.j2").render(
        meta=meta, matrix=summary.matrix(records, cases), coverage=summary.coverage(records),
        discrepancies=summary.discrepancies(records, cases),
        documents=summary.document_table(records),
        support=summary.dtype_support(records), accuracy=summary.accuracy(records),
        worst_inputs=summary.worst_inputs(records, cases),
        by_size=summary.accuracy_by_size(records, cases),
        tolerances=[for_dtype(d) for d in dtypes],
        catalog=catalog.catalog(), findings=findings(), total=len(records))


def write_report(meta, records, cases, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render(meta, records, cases)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(html)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return out
