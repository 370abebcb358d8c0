"""The results store: a directory with run.json (metadata), results.jsonl (one
record per case x framework x device x dtype x check) and cases.jsonl (every
case evaluated, for reproducers). Records are appended and flushed as they are
produced, so an interrupted run loses nothing already computed.
"""
from __future__ import annotations

import collections
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .atomic import write_text
from .case import Case
from .compare import FAILING

SCHEMA = 1
RUN_FILE, RESULTS_FILE, CASES_FILE = "run.json", "results.jsonl", "cases.jsonl"


class ResultsError(ValueError):
    pass


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def machine() -> dict[str, str]:
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "processor": platform.machine()}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file beside ``path`` and rename: never half a file."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


RESUME_KEYS = ("profile", "seed", "dtypes", "devices", "losses", "frameworks", "corpus", "shard")


class ResultWriter:
    """Appends records and cases as they come and keeps the counts. With
    ``resume`` it continues the run in ``directory``: the settings must be the
    same, a line cut short by the interruption is dropped, and ``done`` tells
    the engine what is already there."""

    def __init__(self, directory: Path, meta: dict[str, Any], *, resume: bool = False) -> None:
        self.directory = Path(directory)
        self.counts: collections.Counter = collections.Counter()
        self.unexplained = 0
        self._done: set[tuple] = set()
        self._seen: set[str] = set()
        if resume:
            previous = self._resume(meta)
            self.meta = {**previous, **meta, "started": previous["started"], "resumed": now()}
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.meta = {"schema": SCHEMA, "started": now(), "machine": machine(), **meta}
        write_json_atomic(self.directory / RUN_FILE, self.meta)
        mode = "a" if resume else "w"
        self._results = open(self.directory / RESULTS_FILE, mode, encoding="utf-8")
        self._cases = open(self.directory / CASES_FILE, mode, encoding="utf-8")

    def _resume(self, meta: dict[str, Any]) -> dict[str, Any]:
        previous, records, cases = load(self.directory, tolerate_cut=True)
        for key in RESUME_KEYS:
            was, now_ = previous.get(key), meta.get(key)
            if key == "frameworks":
                was, now_ = sorted(was or {}), sorted(now_ or {})
            if was != now_:
                raise ResultsError(f"cannot resume {self.directory}: {key} was {was!r}, now {now_!r}; "
                                   f"resume with the same options or write to another --out")
        for name in (RESULTS_FILE, CASES_FILE):
            _cut_to_last_line(self.directory / name)
        for r in records:
            self._count(r)
            self._done.add(_done_key(r))
        self._seen.update(cases)
        return previous

    def done(self, key: tuple) -> bool:
        return key in self._done

    def _count(self, r: dict[str, Any]) -> None:
        self.counts[(r["framework"], r["outcome"])] += 1
        if r["outcome"] in FAILING and not r.get("finding"):
            self.unexplained += 1

    def add(self, case: Case, records: list[dict[str, Any]]) -> None:
        if case.id not in self._seen:
            self._seen.add(case.id)
            self._cases.write(case_line(case))
            self._cases.flush()
        for r in records:
            self._results.write(record_line(r))
            self._count(r)
        self._results.flush()

    def close(self, **summary: Any) -> None:
        self._results.close()
        self._cases.close()
        self.meta.update(finished=now(), counts={f"{fw}:{o}": n for (fw, o), n in sorted(self.counts.items())},
                         **summary)
        write_json_atomic(self.directory / RUN_FILE, self.meta)


def record_line(r: dict[str, Any]) -> str:
    """One line of results.jsonl."""
    return json.dumps(r, allow_nan=False, sort_keys=True) + "\n"


def case_line(case: Case) -> str:
    """One line of cases.jsonl."""
    return json.dumps({"id": case.id, **case.to_json()}, allow_nan=False) + "\n"


def _done_key(r: dict[str, Any]) -> tuple:
    if "search" in r:
        cell = "-".join(p for p in (r["loss"], r["variant"], r["reduction"]) if p)
        return ("search", cell, r["framework"], r["device"], r["dtype"])
    return (r["case"], r["framework"], r["device"], r["dtype"])


def _cut_to_last_line(path: Path) -> None:
    """Drop a last line that an interruption cut short (no newline at the end)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[:data.rfind(b"\n") + 1])


RECORD_KEYS = ("case", "loss", "variant", "reduction", "origin", "framework", "device", "dtype",
               "check", "outcome", "detail")
CASE_KEYS = ("id", "loss", "variant", "reduction", "arrays")
RUN_KEYS = ("schema", "profile", "seed", "dtypes", "devices", "frameworks", "started", "machine")


def _require(what: str, row: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(row, dict):
        raise ResultsError(f"{what}: expected a JSON object, found {type(row).__name__}")
    missing = [k for k in keys if k not in row]
    if missing:
        raise ResultsError(f"{what}: missing {', '.join(missing)}; not written by this suite (schema {SCHEMA})")


def _lines(path: Path, keys: tuple[str, ...], tolerate_cut: bool = False) -> Iterator[dict[str, Any]]:
    """The rows of a JSON Lines file; with ``tolerate_cut`` a last line without its
    newline (a run killed mid-write) is skipped rather than an error."""
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip() or (tolerate_cut and not line.endswith("\n")):
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ResultsError(f"{path}:{number}: not a JSON line ({exc.msg}); the file is "
                                       f"truncated or corrupt") from None
                _require(f"{path}:{number}", row, keys)
                yield row
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not UTF-8 text; not a results file") from None


def load(directory: Path, tolerate_cut: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Case]]:
    """(run metadata, records, cases by id) of a results directory."""
    directory = Path(directory)
    run_path = directory / RUN_FILE
    if not run_path.is_file():
        raise ResultsError(f"{directory} holds no {RUN_FILE}: not a results directory "
                           f"(expected the --out of 'python -m conformance run')")
    try:
        meta = json.loads(run_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise ResultsError(f"{run_path}: not JSON ({why})") from None
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        found = meta.get("schema") if isinstance(meta, dict) else type(meta).__name__
        raise ResultsError(f"{run_path}: schema {found!r}, this suite reads schema {SCHEMA}")
    _require(str(run_path), meta, RUN_KEYS)
    records = list(_lines(directory / RESULTS_FILE, RECORD_KEYS, tolerate_cut)) \
        if (directory / RESULTS_FILE).exists() else []
    cases = {}
    if (directory / CASES_FILE).exists():
        for row in _lines(directory / CASES_FILE, CASE_KEYS, tolerate_cut):
            try:
                cases[row["id"]] = Case.from_json(row)
            except (KeyError, TypeError, ValueError) as exc:
                raise ResultsError(f"{directory / CASES_FILE}: case {row['id']!r} is malformed ({exc})") from None
    return meta, records, cases
