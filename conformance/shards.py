"""Splitting a run over machines (``run --shard K/N``) and joining the parts
(``merge``).

A shard is a set of whole losses: all cells of a loss run on one machine, so its
shapes are compiled once and its worker caches stay warm. Losses are dealt
greedily, heaviest first (weight = the loss's number of cells), to the lightest
shard so far; the deal depends only on the catalog and the profile, so every
machine of a CI matrix computes the same split without talking to the others.
Joined, the shards hold exactly the records of the unsharded run.
"""
from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .results import (CASES_FILE, RESULTS_FILE, RUN_FILE, ResultsError, case_line, load, now, prepare_directory,
                      record_line, write_json_atomic)
from .vocab.atomic import write_atomically
from .vocab.case import Case
from .vocab.records import Record

#: settings every shard of one run must share (``selection``: the --losses, --frameworks
#: and --adapter asked for, before the deal)
SHARED = ("schema", "profile", "seed", "dtypes", "devices", "frameworks", "selection", "corpus",
          "hypothesis_database")


class ShardError(ValueError):
    pass


def parse(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ShardError(f"--shard expects K/N with 1 <= K <= N (e.g. 2/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def deal(cells: Sequence[Any], count: int) -> list[list[str]]:
    """The losses of each of ``count`` shards (some may be empty when there are
    fewer losses than shards)."""
    weight = collections.Counter(c.loss for c in cells)
    order = list(dict.fromkeys(c.loss for c in cells))
    shards: list[list[str]] = [[] for _ in range(count)]
    load_of = [0] * count
    for loss in sorted(order, key=lambda name: (-weight[name], order.index(name))):
        lightest = min(range(count), key=lambda i: (load_of[i], i))
        shards[lightest].append(loss)
        load_of[lightest] += weight[loss]
    return shards


def select(cells: Sequence[Any], index: int, count: int) -> list[Any]:
    """The cells of shard ``index`` (1-based) of ``count``, in their run order."""
    mine = set(deal(cells, count)[index - 1])
    return [c for c in cells if c.loss in mine]


def merge(directories: Sequence[Path], out: Path, *, partial: bool = False, force: bool = False) -> dict[str, Any]:
    """Join the results directories of the shards of one run into ``out``; returns
    the merged metadata. Refuses shards of different runs, a shard twice, an ``out``
    that is one of them or holds another run (unless ``force``), and (unless
    ``partial``) a missing or unfinished shard. The merged files are written whole
    (a temporary file, then renamed): a full disk leaves none of them half written."""
    out = Path(out)
    for d in directories:
        if Path(d).resolve() == out.resolve():
            raise ShardError(f"--out {out} is one of the shards being merged; merge into another directory")
    parts = [_Part(Path(d), *load(Path(d))) for d in directories]
    if not parts:
        raise ShardError("merge needs at least one results directory")
    count, missing, unfinished = _check_parts(parts, partial)
    try:
        prepare_directory(out, force=force)
    except ResultsError as exc:
        raise ShardError(str(exc).replace("--resume continues it, ", "")) from None
    ordered = sorted(parts, key=lambda p: p.meta["shard"]["index"])
    counts = _write_joined(ordered, out)
    meta = _merged_meta(parts[0].meta, ordered, count, missing, unfinished, counts)
    write_json_atomic(out / RUN_FILE, meta)
    return meta


@dataclass
class _Part:
    directory: Path
    meta: dict[str, Any]
    records: list[Record]
    cases: dict[str, Case]


def _check_parts(parts: list[_Part], partial: bool) -> tuple[int, list[int], list[str]]:
    """(shard count, missing shards, unfinished shard directories) of shards of one run."""
    first = parts[0]
    for part in parts[1:]:
        for key in SHARED:
            if part.meta.get(key) != first.meta.get(key):
                raise ShardError(f"{part.directory} is not a shard of the same run as {first.directory}: {key} is "
                                 f"{part.meta.get(key)!r} there, {first.meta.get(key)!r} in {first.directory}")
    shards = [p.meta.get("shard") for p in parts]
    if any(s is None for s in shards):
        unsharded = [str(p.directory) for p, s in zip(parts, shards) if s is None]
        raise ShardError(f"not written with --shard: {', '.join(unsharded)}")
    count = shards[0]["count"]
    if any(s["count"] != count for s in shards):
        raise ShardError(f"shards of different splits: {sorted({s['count'] for s in shards})} shards in all")
    seen = collections.Counter(s["index"] for s in shards)
    twice = sorted(i for i, n in seen.items() if n > 1)
    if twice:
        raise ShardError(f"shard(s) {', '.join(f'{i}/{count}' for i in twice)} given more than once")
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing and not partial:
        raise ShardError(f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing; "
                         "give every shard, or --partial for a report of what is there")
    unfinished = [str(p.directory) for p in parts if "finished" not in p.meta]
    if unfinished and not partial:
        raise ShardError(f"unfinished shard(s) (finish them with 'run --resume', or --partial): "
                         f"{', '.join(unfinished)}")
    return count, missing, unfinished


def _write_joined(ordered: list[_Part], out: Path) -> collections.Counter:
    """results.jsonl and cases.jsonl of the shards in shard order, each written whole;
    the counts of framework:outcome."""
    counts: collections.Counter = collections.Counter()

    def write_results(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as results:
            for part in ordered:
                for r in part.records:
                    results.write(record_line(r))
                    counts[f"{r.framework}:{r.outcome}"] += 1

    def write_cases(tmp: Path) -> None:
        written: set[str] = set()
        with open(tmp, "w", encoding="utf-8") as case_file:
            for part in ordered:
                for case_id, case in part.cases.items():
                    if case_id not in written:
                        written.add(case_id)
                        case_file.write(case_line(case))
    write_atomically(out / RESULTS_FILE, write_results)
    write_atomically(out / CASES_FILE, write_cases)
    return counts


def _merged_meta(base: dict[str, Any], ordered: list[_Part], count: int, missing: list[int], unfinished: list[str],
                 counts: collections.Counter) -> dict[str, Any]:
    """run.json of the joined run (the first shard given's, joined): finished only when
    every shard is there and finished."""
    metas = [p.meta for p in ordered]
    meta = {k: v for k, v in base.items() if k not in ("shard", "counts")}
    meta.pop("finished", None)
    if not missing and not unfinished:
        meta["finished"] = max(m["finished"] for m in metas)
    else:
        meta["stopped"] = {"at": now(), "why": "merged with --partial: " + "; ".join(
            ([f"shard(s) {missing} missing"] if missing else []) + ([f"unfinished: {', '.join(unfinished)}"]
                                                                   if unfinished else []))}
    meta.update(started=min(m["started"] for m in metas),
                merged=now(), losses=sorted({loss for m in metas for loss in m.get("losses", [])}),
                counts=dict(sorted(counts.items())),
                # the wall time of the joined run: its slowest shard (they ran side by side)
                elapsed_s=max((m.get("elapsed_s") or 0 for m in metas), default=0),
                shards=[{"directory": str(p.directory), "index": p.meta["shard"]["index"], "count": count,
                         "elapsed_s": p.meta.get("elapsed_s"), "machine": p.meta.get("machine")}
                        for p in ordered],
                missing_shards=missing, unfinished_shards=unfinished)
    return meta

