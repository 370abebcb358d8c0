"""Everything ``python -m conformance report`` writes, each file on its own: the HTML
report, results.csv and results.parquet (the records' DataFrame) and summary.md (for a
CI log or a pull-request comment), the last three next to the report. A failure writing
one is reported and does not stop the others."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from conformance.vocab.case import Case

from . import exports, html, markdown, summary
from conformance.vocab.atomic import remove_stale_temporaries, write_text
from .frame import records_frame, shown_by_mode

CSV, PARQUET, MARKDOWN = "results.csv", "results.parquet", "summary.md"


@dataclass(frozen=True)
class Written:
    what: str
    path: Path
    error: str | None = None      # why it could not be written


def write_all(meta: Mapping[str, Any], records: list[dict[str, Any]], cases: Mapping[str, Case],
              report: Path, baseline: Mapping[str, Any] | None = None) -> list[Written]:
    """Write the report to ``report`` (its loss pages beside it) and the other outputs
    beside it; one Written each. ``baseline``: a loaded baseline the report compares with."""
    report = Path(report)
    folder = report.parent
    remove_stale_temporaries(folder, (report.name, CSV, PARQUET, MARKDOWN))     # left by a killed report
    records = shown_by_mode(records)
    frame = records_frame(meta, records, cases)
    documents = summary.document_table(records)
    steps: list[tuple[str, Path, Callable[[Path], Any]]] = [
        ("report", report, lambda p: html.write_report(meta, records, cases, p, frame=frame, documents=documents,
                                                         baseline=baseline)),
        ("CSV", folder / CSV, lambda p: exports.write_csv(frame, p)),
        ("Parquet", folder / PARQUET, lambda p: exports.write_parquet(frame, p)),
        ("Markdown summary", folder / MARKDOWN, lambda p: write_text(p, markdown.render(
            meta, frame, documents, report=str(report), exports=[str(folder / CSV), str(folder / PARQUET)]))),
    ]
    done = []
    for what, path, write in steps:
        try:
            write(path)
        except Exception as exc:  # noqa: BLE001 - one output's failure must not lose the others
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            done.append(Written(what, path, f"{type(exc).__name__}: {reason}"))
        else:
            done.append(Written(what, path))
    return done
