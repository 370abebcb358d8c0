"""What the gate says, for a terminal and for CI: the verdict, counts per severity and
the grouped changes (reports.gate_groups) as lines, a Markdown summary (a pull-request
comment or ``$GITHUB_STEP_SUMMARY``), JUnit XML (a CI test view: a failing testcase
per regression group, a skipped one per warning group, a passing one per improvement
group) and JSON (every group with every cell, for tools).

The Markdown is capped for a comment box (rows per table and characters per table,
"and N more" for the rest); the JSON is not capped. Text from the results is
escaped: Markdown punctuation backslashed (reports.markdown), XML by ElementTree
with the characters XML 1.0 cannot hold removed.
"""
from __future__ import annotations

import collections
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .gate import KEY_FIELDS
from .gate_groups import SEVERITIES, Group, of
from .markdown import code, text

SCHEMA = "loss-conformance-gate/1"
TITLES = {"regression": "regressions", "warning": "warnings (grew, still within tolerance)",
          "improvement": "improvements"}
MARKDOWN_ROWS = 25
MARKDOWN_TABLE_CHARS = 18_000       # three tables stay under a GitHub comment's 65,536 characters
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Verdict:
    """The gate's judgement of a run against a baseline, grouped."""
    baseline: str
    run: str
    factor: float
    groups: Sequence[Group]
    versions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)   # baseline/run -> framework -> version

    @property
    def failed(self) -> bool:
        return any(g.severity == "regression" for g in self.groups)

    def counts(self) -> dict[str, dict[str, int]]:
        return {s: {"cells": sum(len(g.changes) for g in of(self.groups, s)), "groups": len(of(self.groups, s))}
                for s in SEVERITIES}

    def word(self) -> str:
        return "FAIL" if self.failed else "pass"


def _count_line(verdict: Verdict, severity: str) -> str:
    n = verdict.counts()[severity]
    return f"{n['cells']} {TITLES[severity]}" + (f" in {n['groups']} group(s)" if n["groups"] else "")


def terminal(verdict: Verdict, limit: int) -> list[str]:
    """The lines ``gate`` prints: each severity's count and up to ``limit`` groups, then
    the verdict."""
    lines = []
    for severity in SEVERITIES:
        groups = of(verdict.groups, severity)
        lines.append(_count_line(verdict, severity) + (":" if groups else ""))
        lines.extend("  " + g.line() for g in groups[:limit])
        if len(groups) > limit:
            lines.append(f"  ... and {len(groups) - limit} more group(s)")
    warned = verdict.counts()["warning"]["cells"]
    lines.append("gate: FAIL" if verdict.failed else "gate: pass" + (f" ({warned} warning(s))" if warned else ""))
    return lines


# Markdown

def _versions(names: Mapping[str, str]) -> str:
    return ", ".join(f"{text(k)} {text(v)}" for k, v in names.items()) or "versions unknown"


def _rows(groups: Sequence[Group], rows: int) -> list[str]:
    header = ["framework", "loss", "change", "cells", "covers", "reason", "example"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    used, shown = 0, 0
    for g in groups[:rows]:
        row = "| " + " | ".join([text(g.framework or "every"), code(g.loss or "every"),
                                 text(g.kind + (f" {g.outcome}" if g.outcome else "")), str(len(g.changes)),
                                 text(g.covers_text(), 240), text(g.reason or "—"),
                                 code(g.example.line(), 200)]) + " |"
        if used + len(row) > MARKDOWN_TABLE_CHARS:
            break
        lines.append(row)
        used, shown = used + len(row), shown + 1
    if len(groups) > shown:
        rest = groups[shown:]
        lines.append(f"\n… and {len(rest)} more group(s) ({sum(len(g.changes) for g in rest)} cells); "
                     "the JSON output has them all.")
    return lines


def markdown(verdict: Verdict, rows: int = MARKDOWN_ROWS) -> str:
    """The summary: verdict first, counts per severity, then a table per severity."""
    counts = verdict.counts()
    mark = "❌ FAIL" if verdict.failed else "✅ pass"
    head = (f"**{counts['regression']['cells']} regression(s)**" if verdict.failed else "No regressions") + \
        (f", {counts['warning']['cells']} warning(s)" if counts["warning"]["cells"] else "") + "."
    parts = [f"## Conformance gate: {mark}", "", head, "",
             f"Baseline {code(verdict.baseline, 300)} ({_versions(verdict.versions.get('baseline', {}))}); "
             f"run {code(verdict.run, 300)} ({_versions(verdict.versions.get('run', {}))}); "
             f"worst-error growth factor {verdict.factor:g}.", "",
             "| | cells | groups |", "|---|---|---|",
             *(f"| {TITLES[s]} | {counts[s]['cells']} | {counts[s]['groups']} |" for s in SEVERITIES), ""]
    for severity in SEVERITIES:
        groups = of(verdict.groups, severity)
        if groups:
            parts += [f"### {TITLES[severity].capitalize()}", "", *_rows(groups, rows), ""]
    return "\n".join(parts) + "\n"


# JUnit XML

def _xml(value: Any) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", str(value))


def junit(verdict: Verdict) -> str:
    """A test suite with one testcase per group; the cells are in each case's body."""
    counts = verdict.counts()
    tests = max(len(verdict.groups), 1)
    attrs = {"name": "conformance gate", "tests": str(tests), "failures": str(counts["regression"]["groups"]),
             "errors": "0", "skipped": str(counts["warning"]["groups"])}
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", attrs)
    seen: collections.Counter = collections.Counter()
    for g in verdict.groups:
        name = f"{g.title()} ({len(g.changes)} cell{'s' if len(g.changes) != 1 else ''})"
        seen[name] += 1                      # groups differing only in their reason: names kept apart
        case = ET.SubElement(suite, "testcase", classname=_xml(f"gate.{g.severity}.{g.framework or 'every'}"),
                             name=_xml(name + (f" #{seen[name]}" if seen[name] > 1 else "")))
        body = _xml("\n".join(([f"reason: {g.reason}"] if g.reason else []) + [c.line() for c in g.changes]))
        message = _xml(g.reason or g.example.what)
        if g.severity == "regression":
            ET.SubElement(case, "failure", message=message, type=g.kind).text = body
        elif g.severity == "warning":
            ET.SubElement(case, "skipped", message=_xml(f"grew, still within tolerance: {g.example.what}"))
            ET.SubElement(case, "system-out").text = body
        else:
            ET.SubElement(case, "system-out").text = body
    if not verdict.groups:
        ET.SubElement(suite, "testcase", classname="gate", name="no cell changed")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# JSON

def to_json(verdict: Verdict) -> str:
    """Verdict, counts and every group with every cell (its key fields and what changed)."""
    data = {"schema": SCHEMA, "verdict": verdict.word(), "factor": verdict.factor,
            "baseline": {"path": verdict.baseline, "frameworks": dict(verdict.versions.get("baseline", {}))},
            "run": {"path": verdict.run, "frameworks": dict(verdict.versions.get("run", {}))},
            "counts": verdict.counts(),
            "groups": [{"severity": g.severity, "kind": g.kind, "framework": g.framework, "loss": g.loss,
                        "outcome": g.outcome, "reason": g.reason, "count": len(g.changes), "covers": g.covers(),
                        "cells": [{**dict(zip(KEY_FIELDS, c.key)), "what": c.what} for c in g.changes]}
                       for g in verdict.groups]}
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


#: option -> (what, render)
FORMATS = {"markdown": ("Markdown summary", markdown), "junit": ("JUnit XML", junit), "json": ("JSON", to_json)}
