"""A Markdown summary of a run, short enough for a CI log or a pull-request comment:
the run in one line, outcome counts per framework, the failures no known finding
explains (first, with loss / variant / check / dtype and error), the explained ones
counted by finding, the documents' verdicts, and where the full report is.

Built from the records' DataFrame (reports.frame). Text from the results is escaped so
that it cannot break a table or turn into markup.
"""
from __future__ import annotations

import collections
import re
from typing import Any, Mapping, Sequence

import pandas as pd

from conformance.vocab.records import OUTCOMES

from .summary import SEVERITY

_SPECIAL = re.compile(r"([\\`*\[\]<>|&])")


def text(value: Any, limit: int = 160) -> str:
    """``value`` as one line of inert Markdown: whitespace collapsed, cut at ``limit``
    characters, punctuation that Markdown or a table would read backslash-escaped."""
    flat = " ".join(str(value).split())
    if len(flat) > limit:
        flat = flat[:limit - 1] + "…"
    return _SPECIAL.sub(r"\\\1", flat)


def code(value: Any, limit: int = 160) -> str:
    """``value`` as an inline code span (backticks inside replaced, pipes escaped for tables)."""
    flat = " ".join(str(value).split())[:limit].replace("`", "'").replace("|", "\\|")
    return f"`{flat}`"


def _error(value: float) -> str:
    if pd.isna(value):
        return "—"
    return "∞" if value == float("inf") else f"{value:.3g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def run_line(meta: Mapping[str, Any], checks: int) -> str:
    versions = ", ".join(f"{text(name)}: {text(v)}" for name, v in (meta.get("frameworks") or {}).items())
    when = text(meta.get("started", "?")) + (f", {meta['elapsed_s']} s" if meta.get("elapsed_s") else "")
    return (f"Profile **{text(meta.get('profile', '?'))}**, seed {text(meta.get('seed', '?'))}; "
            f"dtypes {text(', '.join(meta.get('dtypes') or []))}; devices {text(', '.join(meta.get('devices') or []))}; "
            f"{checks} checks; {when}. Frameworks: {versions}.")


def outcome_counts(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return ["No checks."]
    counts = frame.groupby(["framework", "outcome"]).size().unstack(fill_value=0)
    outcomes = [o for o in OUTCOMES if o in counts.columns]
    rows = [[text(fw), *(str(int(counts.loc[fw, o])) for o in outcomes), str(int(counts.loc[fw].sum()))]
            for fw in counts.index]
    return _table(["framework", *outcomes, "total"], rows)


def unexplained(frame: pd.DataFrame, limit: int) -> list[str]:
    failing = frame[frame["failing"] & ~frame["explained"]]
    if failing.empty:
        return ["None: every failing check is explained by a known finding."]
    keys = ["framework", "loss", "variant", "check", "dtype", "device", "outcome"]
    groups = failing.groupby(keys, sort=False).agg(checks=("case", "size"), worst=("error_eps", "max"),
                                                   detail=("detail", "first"), raised=("raised", "first"))
    groups = groups.reset_index()
    groups["_severity"] = groups["outcome"].map(SEVERITY.index)
    groups = groups.sort_values(["_severity", "checks"], ascending=False, kind="stable")
    rows = [[text(g.framework), code(g.loss), text(g.variant), text(g.check), text(g.dtype),
             text(g.device), text(g.outcome), str(g.checks), _error(g.worst), text(g.detail or g.raised, 120)]
            for g in groups.head(limit).itertuples()]
    lines = _table(["framework", "loss", "variant", "check", "dtype", "device", "outcome", "checks",
                    "worst error (eps)", "detail"], rows)
    if len(groups) > limit:
        lines.append(f"\n… and {len(groups) - limit} more groups ({int(groups['checks'].iloc[limit:].sum())} checks).")
    return lines


def explained(frame: pd.DataFrame) -> list[str]:
    known = frame[frame["explained"]]
    if known.empty:
        return ["None."]
    rows = []
    for (finding, fw), part in known.groupby(["finding", "framework"]):
        outcomes = collections.Counter(part["outcome"])
        rows.append([code(finding), text(fw), ", ".join(f"{text(o)} {n}" for o, n in sorted(outcomes.items())),
                     str(len(part))])
    return _table(["finding", "framework", "outcomes", "checks"], rows)


def document_verdicts(documents: Sequence[Mapping[str, Any]]) -> list[str]:
    if not documents:
        return ["No worked examples."]
    counts = collections.Counter(row["verdict"].verdict for row in documents)
    lines = [" · ".join(f"{text(v)} {n}" for v, n in sorted(counts.items())), ""]
    rows = [[text(f"{row['example'].source} § {row['example'].section}"), code(row['example'].case.loss),
             text(row["stated"], 60), f"**{text(row['verdict'].verdict)}**", text(row["verdict"].detail, 200)]
            for row in documents if row["verdict"].verdict not in ("confirmed", "no-claim")]
    return lines + (_table(["source §", "loss", "stated", "verdict", "why"], rows) if rows else
                    ["Every stated value is confirmed."])


def render(meta: Mapping[str, Any], frame: pd.DataFrame, documents: Sequence[Mapping[str, Any]],
           report: str, exports: Sequence[str] = (), limit: int = 20) -> str:
    """The whole summary. ``report``: where the HTML report is; ``exports``: the other
    files written beside it."""
    failing = int(frame["failing"].sum())
    open_ = int((frame["failing"] & ~frame["explained"]).sum())
    verdict = (f"**{open_} unexplained failing check(s)**" if open_ else "**No unexplained failures**") + \
        f" ({failing} failing, {failing - open_} explained by known findings)."
    parts = [
        "## Loss conformance summary", "", run_line(meta, len(frame)), "", verdict, "",
        "### Outcomes per framework", "", *outcome_counts(frame), "",
        "### Unexplained failures", "", *unexplained(frame, limit), "",
        "### Explained by known findings", "", *explained(frame), "",
        "### The documents' worked examples", "", *document_verdicts(documents), "",
        f"Full report: {code(report, 300)}" + (f" (also {', '.join(code(e, 300) for e in exports)})"
                                                   if exports else "") + ".",
    ]
    return "\n".join(parts) + "\n"
