"""The gate's changes grouped by cause, so that one missing API is one line, not 22.

A group is the changes that share a key (kind, framework, loss, outcome, reason;
the kind gives the severity); it is shown once, with how many cells it holds,
which variants, reductions, dtypes, modes and checks they cover, and one example.

* **new outcome**: the reason is what the run's records of that outcome in the
  cell say — the framework's raised text, else the record's detail — normalised
  (numbers, indices, dtype names and addresses replaced, first line, cut short) and the most
  common one when the cell's records differ. So every cell of a loss that now
  raises the same ``AttributeError`` is one group, and a new ``mismatch`` across
  all dtypes and reductions of a loss is one group. The run's records are there
  whenever the gate judges a results directory; without them (cell statistics
  only) the reason is left out and a group is (framework, loss, outcome).
* **not checked**: the reason is the coordinate the run lacks, found from the
  cells it has. A framework absent from the whole run is one group for all its
  losses (the key drops the loss), a loss absent from the whole run one group for
  all frameworks, a dtype, device or mode absent one group for everything;
  otherwise the run has the loss on the framework but not that cell.
* **worst error grew** (past k: regression; within k: warning) and
  **improvements**: grouped by (framework, loss, kind, outcome).
"""
from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from conformance.vocab.dtypes import DTYPES
from conformance.vocab.records import Record

from .gate import KEY_FIELDS, NEW_OUTCOME, NOT_CHECKED, SEVERITY, CellStat, Change, cell_key

#: the key fields a group lists the values of (framework and loss too when its key drops them)
COVERED = ("framework", "loss", "variant", "reduction", "dtype", "mode", "check", "device")
SEVERITIES = ("regression", "warning", "improvement")
REASON_LIMIT = 160
VALUES_SHOWN = 8

_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")    # terminal colours, NULs
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_NUMBERS = re.compile(r"N(?:\s*,\s*N)+")
#: a dtype's name in a message (TensorFlow says half and double), so one error in every dtype is one reason
_DTYPE = re.compile(r"\b(?:" + "|".join(sorted(DTYPES, key=len, reverse=True)) + r"|half|double)\b")


def normalise(text: str | None) -> str | None:
    """A record's text with what varies between cells taken out: first line, addresses
    as 0x…, dtype names as <dtype>, every number as N, a list of numbers (an index, a
    shape) as one N, control characters (a terminal's colours) dropped."""
    text = _CONTROL.sub("", text or "").strip()
    if not text:
        return None
    line = " ".join(text.splitlines()[0].split())
    line = _DTYPE.sub("<dtype>", _ADDRESS.sub("0x…", line))
    line = _NUMBERS.sub("N", _NUMBER.sub("N", line)).replace("(N,)", "(N)")
    return line if len(line) <= REASON_LIMIT else line[:REASON_LIMIT - 1] + "…"


def reasons(records: Iterable[Record]) -> dict[tuple, str]:
    """(cell key, outcome) -> the most common normalised text of the cell's records
    with that outcome (raised, else detail); agreeing and searched records left out."""
    texts: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        if r.outcome == "agree" or r.origin == "search":
            continue
        text = normalise(r.raised) or normalise(r.detail)
        if text:
            texts[(cell_key(r), r.outcome)][text] += 1
    return {key: min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, counts in texts.items()}


class _Present:
    """The coordinates a run has cells for, to say why a baseline cell is missing."""

    def __init__(self, after: Mapping[tuple, CellStat]) -> None:
        self.values = {f: {k[i] for k in after} for i, f in enumerate(KEY_FIELDS)}
        self.pairs = {(k[KEY_FIELDS.index("framework")], k[KEY_FIELDS.index("loss")]) for k in after}

    def missing(self, change: Change) -> tuple[str | None, str | None, str]:
        """(framework, loss, reason) of a cell the run did not check; None: every one."""
        framework, loss = change.field("framework"), change.field("loss")
        if framework not in self.values["framework"]:
            return framework, None, f"framework {framework} was not run"
        if loss not in self.values["loss"]:
            return None, loss, f"loss {loss} was not run"
        for name in ("dtype", "device", "mode"):
            value = change.field(name)
            if value not in self.values[name]:
                return None, None, f"{name} {value or 'default'} was not run"
        if (framework, loss) not in self.pairs:
            return framework, loss, f"loss {loss} was not run on {framework}"
        return framework, loss, "the run has this loss on this framework, not this cell"


@dataclass(frozen=True)
class Group:
    kind: str
    framework: str | None        # None: the group spans frameworks
    loss: str | None             # None: the group spans losses
    outcome: str | None
    reason: str | None
    changes: tuple[Change, ...]

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    @property
    def example(self) -> Change:
        return self.changes[0]

    def title(self) -> str:
        where = f"{self.framework or 'every framework'} {self.loss or 'every loss'}"
        return f"{where}: {self.kind}" + (f" {self.outcome}" if self.outcome else "")

    def covers(self) -> dict[str, list[str]]:
        """Each covered key field's values over the group's cells (mode None is 'default')."""
        out = {}
        for name in COVERED:
            if name in ("framework", "loss") and getattr(self, name) is not None:
                continue
            values = {c.field(name) for c in self.changes}
            if name == "device" and len(values) == 1:
                continue
            out[name] = sorted("default" if v is None else str(v) for v in values)
        return out

    def covers_text(self) -> str:
        parts = []
        for name, values in self.covers().items():
            shown = ", ".join(values[:VALUES_SHOWN]) + (f" +{len(values) - VALUES_SHOWN} more"
                                                        if len(values) > VALUES_SHOWN else "")
            parts.append(f"{name}s {shown}")
        return "; ".join(parts)

    def line(self) -> str:
        """One line for a terminal: the cell itself when the group has one."""
        reason = f" — {self.reason}" if self.reason else ""
        if len(self.changes) == 1:
            return self.example.line() + reason
        return (f"{self.title()} in {len(self.changes)} cells ({self.covers_text()}){reason}; "
                f"e.g. {self.example.line()}")


def group(changes: Iterable[Change], after: Mapping[tuple, CellStat],
          why: Mapping[tuple, str] | None = None) -> list[Group]:
    """The changes grouped by cause: regressions first, then warnings, improvements;
    within each, the largest groups first. ``why``: reasons() of the run's records."""
    why = why or {}
    present = _Present(after)
    by_key: dict[tuple, list[Change]] = collections.defaultdict(list)
    for change in changes:
        framework, loss, reason = change.field("framework"), change.field("loss"), None
        if change.kind == NOT_CHECKED:
            framework, loss, reason = present.missing(change)
        elif change.kind == NEW_OUTCOME:
            reason = why.get((change.key, change.outcome))
        by_key[(change.kind, framework, loss, change.outcome, reason)].append(change)
    groups = [Group(kind, framework, loss, outcome, reason, tuple(sorted(members, key=lambda c: str(c.key))))
              for (kind, framework, loss, outcome, reason), members in by_key.items()]
    return sorted(groups, key=lambda g: (SEVERITIES.index(g.severity), -len(g.changes), g.title(), g.reason or ""))


def of(groups: Iterable[Group], severity: str) -> list[Group]:
    return [g for g in groups if g.severity == severity]
