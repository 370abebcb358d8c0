"""The replay corpus: committed cases every run checks before it explores.

The documents' worked examples and the edge cases are data of their own
(``data/documents.toml``, ``data/edge_cases*``); the corpus keeps the rest of
what the suite has learned: the shrunk counterexamples that searches and
generated cases found. It lives in ``data/corpus/<loss>.jsonl``, one Case per
line (``Case.to_json`` with origin ``corpus`` and a note of where it came
from), so two runs on two framework versions are compared on identical inputs
whatever the strategies draw.

Versioned twice: ``FORMAT`` is the file format this code reads (a file whose
header says otherwise is refused), and ``identity()`` is a digest of the cases
themselves, recorded in each run's metadata so the gate can tell when a
baseline was taken on another corpus.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .vocab import catalog, schema
from .vocab.atomic import write_text
from .vocab.case import Case
from .vocab.schema import SchemaError
from .vocab.records import FAILING

FORMAT = 1
CORPUS_DIR = Path(__file__).with_name("data") / "corpus"


class CorpusError(ValueError):
    pass


def _path(loss: str, directory: Path | None = None) -> Path:
    return (directory or CORPUS_DIR) / f"{loss}.jsonl"


HEADER = schema.obj({"corpus_format": int}, {"loss": str})


def _read(path: Path) -> list[Case]:
    """The cases of one corpus file; CorpusError naming the file and line of anything
    that is not a case of this loss (wrong types, an array missing, another loss)."""
    cases = []
    loss = path.stem
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: not UTF-8 text; not a corpus file") from None
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = schema.parse_json(line, where)
            if number == 1:
                schema.check(row, HEADER, where)
                if row["corpus_format"] != FORMAT:
                    raise CorpusError(f"{path}: corpus format {row['corpus_format']!r}, "
                                      f"this suite reads format {FORMAT}")
                continue
            case = Case.from_json(row, where)
        except SchemaError as exc:
            raise CorpusError(f"{exc}; not a corpus case") from None
        if case.loss != loss:
            raise CorpusError(f"{where}: a case of {case.loss!r} in the corpus of {loss!r}; "
                              f"move it to {case.loss}.jsonl")
        spec = catalog.get(loss) if loss in catalog.catalog() else None
        if spec is None:
            raise CorpusError(f"{path}: {loss!r} is not a catalog loss; known: {', '.join(catalog.catalog())}")
        problem = spec.case_problem(case.arrays, case.params, case.reduction)
        if problem is None and case.variant not in spec.variants:
            problem = f"{loss} has no variant {case.variant!r} (it has {', '.join(spec.variants)})"
        if problem:
            raise CorpusError(f"{where}: not a case of {loss}: {problem}")
        cases.append(dataclasses.replace(case, origin="corpus"))
    return cases


@lru_cache(maxsize=None)
def _load(loss: str, directory: Path | None) -> tuple[Case, ...]:
    path = _path(loss, directory)
    return tuple(_read(path)) if path.exists() else ()


def clear_cache() -> None:
    _load.cache_clear()


@contextlib.contextmanager
def using(directory: Path | None) -> Iterator[None]:
    """Replay the corpus in ``directory`` instead of the committed one (``run --corpus``)."""
    global CORPUS_DIR
    if directory is None:
        yield
        return
    if not Path(directory).is_dir():
        raise CorpusError(f"--corpus {directory} is not a directory (of <loss>.jsonl corpus files)")
    before, CORPUS_DIR = CORPUS_DIR, Path(directory)
    clear_cache()
    try:
        yield
    finally:
        CORPUS_DIR = before
        clear_cache()


def cases(loss: str, directory: Path | None = None) -> tuple[Case, ...]:
    """The corpus cases of ``loss`` in file order (empty when it has none)."""
    return _load(loss, directory)


def identity(directory: Path | None = None) -> dict[str, Any]:
    """Format, number of cases and a content digest of the whole corpus."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    count = 0
    for path in sorted((directory or CORPUS_DIR).glob("*.jsonl")):
        found = _load(path.stem, directory)
        count += len(found)
        digest.update(path.stem.encode() + b"\n" + "\n".join(c.id for c in found).encode() + b"\n")
    return {"format": FORMAT, "cases": count, "digest": digest.hexdigest()[:16]}


def counterexamples(records: Iterable[Mapping[str, Any]], found: Mapping[str, Case]) -> list[Case]:
    """The cases of a run worth replaying: for each kind of failure (loss, variant,
    reduction, framework, check, outcome, finding) met on a generated or searched
    case, the smallest case that shows it (searched cases first: they are shrunk)."""
    best: dict[tuple, tuple[tuple, Case]] = {}
    for r in records:
        if r.outcome not in FAILING or r.origin not in ("hypothesis", "search"):
            continue
        case = found.get(r.case)
        if case is None or case.generated:
            continue
        key = (r.loss, r.variant, r.reduction, r.framework, r.check, r.outcome,
               r.finding or "")
        rank = (r.origin != "search", sum(a.size for a in case.arrays.values()), case.id)
        if key not in best or rank < best[key][0]:
            note = (f"{r.origin} counterexample: {r.framework} {r.dtype} {r.check} {r.outcome}"
                    + (f" ({r.finding})" if r.finding else ""))
            best[key] = (rank, dataclasses.replace(case, origin="corpus", note=note))
    unique: dict[str, Case] = {}
    for _, case in sorted(best.values(), key=lambda rc: rc[0]):
        unique.setdefault(case.id, case)
    return list(unique.values())


def add(new: Iterable[Case], directory: Path | None = None) -> dict[str, int]:
    """Append the cases not yet in the corpus (by id); returns loss -> cases added.
    Each file is rewritten whole through a temporary file: never half a corpus."""
    directory = directory or CORPUS_DIR
    by_loss: dict[str, list[Case]] = {}
    for case in new:
        by_loss.setdefault(case.loss, []).append(case)
    added = {}
    for loss, fresh in sorted(by_loss.items()):
        have = list(_read(_path(loss, directory))) if _path(loss, directory).exists() else []
        ids = {c.id for c in have}
        extra = []
        for case in fresh:
            if case.id not in ids:
                ids.add(case.id)
                extra.append(case)
        if not extra:
            continue
        _write(_path(loss, directory), have + extra)
        added[loss] = len(extra)
    clear_cache()
    return added


def _write(path: Path, found: list[Case]) -> None:
    lines = [json.dumps({"corpus_format": FORMAT, "loss": path.stem})]
    lines += [json.dumps({**case.to_json(), "origin": "corpus"}, allow_nan=False, sort_keys=True) for case in found]
    write_text(path, "\n".join(lines) + "\n")
