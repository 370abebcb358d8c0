"""The results store: a directory with run.json (metadata), results.jsonl (one
record per case x framework x device x dtype x check) and cases.jsonl (every
case evaluated, for reproducers). Records are appended and flushed as they are
produced, so an interrupted run loses nothing already computed.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .case import Case

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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, allow_nan=False)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class ResultWriter:
    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.meta = {"schema": SCHEMA, "started": now(), "machine": machine(), **meta}
        write_json_atomic(self.directory / RUN_FILE, self.meta)
        self._results = open(self.directory / RESULTS_FILE, "w", encoding="utf-8")
        self._cases = open(self.directory / CASES_FILE, "w", encoding="utf-8")
        self._seen: set[str] = set()

    def add(self, case: Case, records: list[dict[str, Any]]) -> None:
        if case.id not in self._seen:
            self._seen.add(case.id)
            self._cases.write(json.dumps({"id": case.id, **case.to_json()}, allow_nan=False) + "\n")
            self._cases.flush()
        for r in records:
            self._results.write(json.dumps(r, allow_nan=False, sort_keys=True) + "\n")
        self._results.flush()

    def close(self, **summary: Any) -> None:
        self._results.close()
        self._cases.close()
        self.meta.update(finished=now(), **summary)
        write_json_atomic(self.directory / RUN_FILE, self.meta)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ResultsError(f"{path}:{number}: not a JSON line ({exc.msg}); the file is "
                                   f"truncated or corrupt") from None


def load(directory: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Case]]:
    """(run metadata, records, cases by id) of a results directory."""
    directory = Path(directory)
    run_path = directory / RUN_FILE
    if not run_path.is_file():
        raise ResultsError(f"{directory} holds no {RUN_FILE}: not a results directory "
                           f"(expected the --out of 'python -m conformance run')")
    try:
        meta = json.loads(run_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{run_path}: not JSON ({exc.msg})") from None
    if meta.get("schema") != SCHEMA:
        raise ResultsError(f"{run_path}: schema {meta.get('schema')!r}, this suite reads schema {SCHEMA}")
    records = list(_lines(directory / RESULTS_FILE)) if (directory / RESULTS_FILE).exists() else []
    cases = {}
    if (directory / CASES_FILE).exists():
        for row in _lines(directory / CASES_FILE):
            cases[row["id"]] = Case.from_json(row)
    return meta, records, cases
