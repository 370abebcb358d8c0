"""The results store: a directory with run.json (metadata), results.jsonl (one
record per case x framework x device x dtype x check), cases.jsonl (every case
evaluated, for reproducers) and progress.jsonl (which units of work are in).

A *unit* is what the engine computes in one go: one case on one framework,
device and dtype, or one worst-case search. The writer appends a unit's records
and cases, flushes them, and only then appends one line to progress.jsonl with
the unit's key and the byte lengths the two files then have. So a run killed at
any moment (SIGKILL, a full disk, power off before the page cache is written)
leaves a prefix of complete units that progress.jsonl vouches for, and
whatever follows it is a unit written in part. ``--resume`` cuts the files back
to the last complete unit and continues with the next, and readers (``load``)
read no further than that either: a record is never counted, reported or merged
unless its whole unit is there. The units come in one canonical order, so a
resumed run ends with exactly the bytes of an uninterrupted one.

``run.json`` says ``finished`` only when the run came to its end; an exception,
Ctrl-C, SIGTERM or an error found late leave it without (``stopped`` says why),
and ``merge`` refuses such a run unless ``--partial``.
"""
from __future__ import annotations

import collections
import errno
import json
import platform
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

from .vocab import schema
from .vocab.atomic import remove_stale_temporaries, write_text
from .vocab.case import ORIGINS, Case
from .vocab.records import FAILING, OUTCOMES, Record
from .vocab.dtypes import DTYPES
from .vocab.modes import MODES
from .vocab.schema import SchemaError

SCHEMA = 1
RUN_FILE, RESULTS_FILE, CASES_FILE, PROGRESS_FILE = "run.json", "results.jsonl", "cases.jsonl", "progress.jsonl"
#: what 'run' and 'report' write into a results directory; ``--force`` replaces these
#: and nothing else (a reproducers/ folder only when it carries the suite's marker)
OUTPUTS = (RUN_FILE, RESULTS_FILE, CASES_FILE, PROGRESS_FILE, "report.html", "report-losses", "results.csv",
           "results.parquet", "summary.md", "reproducers")
#: the folders among OUTPUTS, removed only when they carry the suite's marker
MARKED = ("reproducers", "report-losses")
MARKER = ".generated-by-loss-conformance"


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


RESUME_KEYS = ("profile", "seed", "dtypes", "devices", "losses", "selection", "frameworks", "corpus", "shard",
               "hypothesis_database", "modes")

# -- the types of what is read back ---------------------------------------------------
_NUMBER_OR_INF = schema.either(schema.NUMBER, schema.one_of("inf"))
_SUMMARY = schema.obj({"dtype": str, "shape": schema.list_of(int), "data": list})
RECORD = schema.obj(
    {"case": str, "loss": str, "variant": str, "reduction": str, "origin": schema.one_of(*ORIGINS), "framework": str,
     "device": str, "dtype": schema.one_of(*DTYPES), "check": str, "outcome": schema.one_of(*OUTCOMES),
     "detail": str},
    {"error_eps": schema.nullable(_NUMBER_OR_INF), "k": schema.NUMBER, "support": str, "api": str,
     "claimed": bool, "expected": _SUMMARY, "actual": _SUMMARY, "policy_expected": _SUMMARY, "cpu": _SUMMARY,
     "plain": _SUMMARY, "mode": schema.one_of(*MODES),
     "at": schema.list_of(int), "citation": str, "policy_error_eps": schema.nullable(_NUMBER_OR_INF),
     "error_ulp": schema.nullable(_NUMBER_OR_INF),
     "raised": str, "refused": schema.one_of("forward", "backward"), "finding": schema.nullable(str),
     "search": dict})
RUN = schema.obj(
    {"schema": int, "profile": str, "seed": int, "dtypes": schema.list_of(schema.one_of(*DTYPES)),
     "devices": schema.list_of(str), "frameworks": schema.map_of(str), "started": str, "machine": dict},
    {"finished": str, "counts": schema.map_of(int), "losses": schema.list_of(str), "corpus": dict,
     "shard": schema.obj({"index": int, "count": int}), "environment": dict, "command": str,
     "elapsed_s": schema.nullable(schema.NUMBER), "selection": dict, "stopped": dict,
     "hypothesis_database": schema.nullable(str), "modes": schema.list_of(schema.one_of(*MODES))})
PROGRESS = schema.obj({"unit": str, "results": int, "cases": int})


def check_run(meta: Any, where: str) -> dict[str, Any]:
    if isinstance(meta, dict) and meta.get("schema") != SCHEMA:
        raise ResultsError(f"{where}: schema {meta.get('schema')!r}, this suite reads schema {SCHEMA}")
    try:
        return schema.check(meta, RUN, where)
    except SchemaError as exc:
        raise ResultsError(str(exc)) from None


# -- where a run may be written -----------------------------------------------------------
def prepare_directory(directory: Path, *, force: bool) -> None:
    """Make ``directory`` ready for a new run. Refused (ResultsError) when it already
    holds a run or anything else, unless ``force``: then the suite's own outputs there
    (a run, its report, CSV, Parquet, summary, reproducers) are removed first, so
    nothing stale is left beside the new results; other files are left alone."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ResultsError(f"{directory} is a file, not a directory; choose another --out")
    held = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    if held and not force:
        if (directory / RUN_FILE).exists():
            raise ResultsError(f"{directory} already holds a run ({_describe_run(directory)}); "
                               "--resume continues it, --force replaces it, or choose another --out")
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise ResultsError(f"{directory} is not empty (it holds {shown}); choose an empty or new --out, "
                           "or --force to write there anyway (the suite's own files are replaced, others kept)")
    for name in OUTPUTS:
        path = directory / name
        if path.is_dir() and not path.is_symlink():
            if name in MARKED and not (path / MARKER).exists():
                raise ResultsError(f"{path} was not written by loss-conformance; move it before --force")
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def _nothing_to_resume(directory: Path) -> bool:
    """A directory that does not exist, or holds no run.json and nothing but the suite's
    own files (a run killed before it wrote its run.json): resuming it starts the run."""
    if not directory.is_dir():
        return not directory.exists()
    names = {p.name for p in directory.iterdir() if not _is_temporary(p.name)}
    return RUN_FILE not in names and names <= set(OUTPUTS)


def _is_temporary(name: str) -> bool:
    return any(name.startswith(f".{output}.") for output in OUTPUTS)


def _describe_run(directory: Path) -> str:
    try:
        meta = json.loads((directory / RUN_FILE).read_text(encoding="utf-8"))
        state = "finished" if meta.get("finished") else "unfinished"
        return f"profile {meta.get('profile')}, started {meta.get('started')}, {state}"
    except (OSError, ValueError, AttributeError):
        return f"its {RUN_FILE} is unreadable"


# -- writing ------------------------------------------------------------------------------
class ResultWriter:
    """Appends units as they come and keeps the counts. With ``resume`` it continues the
    run in ``directory``: the settings must be the same, everything after the last
    complete unit is cut off, and ``done`` tells the engine which units are in."""

    def __init__(self, directory: Path, meta: dict[str, Any], *, resume: bool = False,
                 force: bool = False) -> None:
        self.directory = Path(directory)
        self.counts: collections.Counter = collections.Counter()
        self.unexplained = 0
        self._done: set[str] = set()
        self._seen: set[str] = set()
        lengths = (0, 0)
        if resume and not _nothing_to_resume(self.directory):
            previous, lengths = self._resume(meta)
            self.meta = {**previous, **meta, "started": previous["started"], "resumed": now()}
            self.meta.pop("stopped", None)
        else:       # a new run; or one killed before its run.json was written: nothing of it to keep
            prepare_directory(self.directory, force=force or resume)
            self.meta = {"schema": SCHEMA, "started": now(), "machine": machine(), **meta}
        remove_stale_temporaries(self.directory, OUTPUTS)
        self._results = self._open(RESULTS_FILE, lengths[0])
        self._cases = self._open(CASES_FILE, lengths[1])
        self._progress = self._open(PROGRESS_FILE, None)
        self._lengths = list(lengths)
        self._write_meta()          # last: a run.json always comes with its progress.jsonl

    def _open(self, name: str, length: int | None) -> BinaryIO:
        """Open for appending; a resumed file is first cut back to ``length`` bytes."""
        path = self.directory / name
        try:
            f = open(path, "r+b" if path.exists() and length is not None else "ab")
            if length is not None:
                f.truncate(length)
                f.seek(length)
            return f
        except OSError as exc:
            raise ResultsError(_os_message(exc, path)) from None

    def _resume(self, meta: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, int]]:
        previous = read_meta(self.directory)
        for key in RESUME_KEYS:
            was, now_ = previous.get(key), meta.get(key)
            if key == "frameworks":
                was, now_ = sorted(was or {}), sorted(now_ or {})
            if was != now_:
                raise ResultsError(f"cannot resume {self.directory}: {key} was {was!r}, now {now_!r}; "
                                   f"resume with the same options or write to another --out")
        units, lengths, progress_bytes = read_progress(self.directory)
        with open(self.directory / PROGRESS_FILE, "r+b") as f:   # drop a unit line cut in half
            f.truncate(progress_bytes)
        self._done.update(units)
        for r in _records(self.directory, lengths[0]):
            self._count(r)
        self._seen.update(_cases(self.directory, lengths[1]))
        return previous, lengths

    def done(self, unit: str) -> bool:
        return unit in self._done

    def _count(self, r: Record) -> None:
        self.counts[(r.framework, r.outcome)] += 1
        if r.outcome in FAILING and not r.finding:
            self.unexplained += 1

    def add(self, unit: str, found: Iterable[tuple[Case, list[Record]]]) -> None:
        """One unit's cases and records, then its line in progress.jsonl."""
        cases, records = [], []
        for case, rs in found:
            if case.id not in self._seen:
                self._seen.add(case.id)
                cases.append(case_line(case).encode())
            records += [record_line(r).encode() for r in rs]
        self._append(self._results, RESULTS_FILE, 0, records)
        self._append(self._cases, CASES_FILE, 1, cases)
        line = json.dumps({"unit": unit, "results": self._lengths[0], "cases": self._lengths[1]}) + "\n"
        self._append(self._progress, PROGRESS_FILE, None, [line.encode()])
        for _, rs in found:
            for r in rs:
                self._count(r)
        self._done.add(unit)

    def _append(self, f: BinaryIO, name: str, index: int | None, lines: list[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        try:
            f.write(data)
            f.flush()
        except OSError as exc:
            raise ResultsError(_os_message(exc, self.directory / name) + "; the run so far is kept: free "
                               "space and continue it with --resume") from None
        if index is not None:
            self._lengths[index] += len(data)

    def close(self, *, finished: bool, why: str = "", **summary: Any) -> None:
        """Close the files and write run.json: ``finished`` only when the run came to
        its end; otherwise ``stopped`` says when and why."""
        for f in (self._results, self._cases, self._progress):
            try:
                f.close()
            except OSError:
                pass
        self.meta.update(counts={f"{fw}:{o}": n for (fw, o), n in sorted(self.counts.items())}, **summary)
        if finished:
            self.meta["finished"] = now()
        else:
            self.meta.pop("finished", None)
            self.meta["stopped"] = {"at": now(), "why": why or "interrupted"}
        self._write_meta()

    def _write_meta(self) -> None:
        try:
            write_json_atomic(self.directory / RUN_FILE, self.meta)
        except OSError as exc:
            raise ResultsError(_os_message(exc, self.directory / RUN_FILE)) from None


def _os_message(exc: OSError, path: Path) -> str:
    why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return f"cannot write {path}: {why}"


def record_line(r: Record) -> str:
    """One line of results.jsonl."""
    return json.dumps(r.to_json(), allow_nan=False, sort_keys=True) + "\n"


def case_line(case: Case) -> str:
    """One line of cases.jsonl."""
    return json.dumps({"id": case.id, **case.to_json()}, allow_nan=False) + "\n"


# -- reading ------------------------------------------------------------------------------
def read_meta(directory: Path) -> dict[str, Any]:
    run_path = Path(directory) / RUN_FILE
    if not run_path.is_file():
        raise ResultsError(f"{directory} holds no {RUN_FILE}: not a results directory "
                           f"(expected the --out of 'python -m conformance run')")
    try:
        raw = run_path.read_bytes()
        meta = schema.parse_json(raw.decode("utf-8"), str(run_path))
    except UnicodeDecodeError:
        raise ResultsError(f"{run_path}: not UTF-8 text; not written by this suite") from None
    except SchemaError as exc:
        raise ResultsError(str(exc)) from None
    except OSError as exc:
        raise ResultsError(f"cannot read {run_path}: {exc.strerror or exc}") from None
    return check_run(meta, str(run_path))


def read_progress(directory: Path) -> tuple[list[str], tuple[int, int], int]:
    """(units in, (results bytes, cases bytes) they cover, bytes of progress.jsonl that
    are whole lines). A line cut short by the interruption is not counted."""
    path = Path(directory) / PROGRESS_FILE
    if not path.exists():
        raise ResultsError(f"cannot resume {directory}: it has no {PROGRESS_FILE} (written by an older version "
                           "of the suite, or not by 'run'); run it again into a new --out")
    units: list[str] = []
    lengths, good = (0, 0), 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break                                   # the unit's line was cut: the unit is not in
            try:
                row = schema.check(schema.parse_json(line.decode("utf-8"), f"{path}:{number}"), PROGRESS,
                                   f"{path}:{number}")
            except UnicodeDecodeError:
                raise ResultsError(f"{path}:{number}: not UTF-8 text; not a progress line") from None
            except SchemaError as exc:
                raise ResultsError(f"{exc}; not a progress line of this suite") from None
            units.append(row["unit"])
            lengths, good = (row["results"], row["cases"]), good + len(line)
    for name, length in zip((RESULTS_FILE, CASES_FILE), lengths):
        have = (Path(directory) / name).stat().st_size if (Path(directory) / name).exists() else 0
        if have < length:
            raise ResultsError(f"{Path(directory) / name} has {have} bytes, fewer than the {length} its complete "
                               f"units were written with: the file was cut or replaced; run again into a new --out")
    return units, lengths, good


def _complete_lengths(directory: Path) -> tuple[int | None, int | None]:
    """How much of results.jsonl and cases.jsonl belongs to complete units (None: all
    of it, for a directory without progress.jsonl, e.g. one written by merge)."""
    if not (Path(directory) / PROGRESS_FILE).exists():
        return None, None
    _, lengths, _ = read_progress(directory)
    return lengths


def _lines(path: Path, limit: int | None) -> Iterator[tuple[int, str]]:
    """(line number, text) of the first ``limit`` bytes of a JSON Lines file."""
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit)
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ResultsError(f"{path}:{number}: not UTF-8 text; not a results file") from None


def _rows(path: Path, spec: Any, limit: int | None) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, text in _lines(path, limit):
        where = f"{path}:{number}"
        try:
            row = schema.check(schema.parse_json(text, where), spec, where)
        except SchemaError as exc:
            raise ResultsError(f"{exc}; the file is truncated, corrupt or not written by this suite "
                               f"(schema {SCHEMA})") from None
        yield where, row


def _records(directory: Path, limit: int | None) -> list[Record]:
    path = Path(directory) / RESULTS_FILE
    return [Record.from_json(row) for _, row in _rows(path, RECORD, limit)] if path.exists() else []


def _cases(directory: Path, limit: int | None) -> dict[str, Case]:
    path = Path(directory) / CASES_FILE
    cases: dict[str, Case] = {}
    if not path.exists():
        return cases
    for where, row in _rows(path, schema.obj({"id": str}), limit):
        try:
            cases[row["id"]] = Case.from_json(row, where)
        except (SchemaError, ValueError) as exc:
            raise ResultsError(str(exc)) from None
    return cases


def load(directory: Path) -> tuple[dict[str, Any], list[Record], dict[str, Case]]:
    """(run metadata, records, cases by id) of a results directory: the complete units
    only (what progress.jsonl vouches for), every row checked against its type."""
    directory = Path(directory)
    meta = read_meta(directory)
    results_bytes, cases_bytes = _complete_lengths(directory)
    return meta, _records(directory, results_bytes), _cases(directory, cases_bytes)
