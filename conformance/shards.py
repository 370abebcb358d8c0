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
from pathlib import Path
from typing import Any, Sequence

from .atomic import write_atomically
from .results import (CASES_FILE, RESULTS_FILE, RUN_FILE, ResultsError, case_line, load, now, prepare_directory,
                      record_line, write_json_atomic)

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
    parts = []
    for d in directories:
        meta, records, cases = load(Path(d))
        parts.append((Path(d), meta, records, cases))
    if not parts:
        raise ShardError("merge needs at least one results directory")
    first_dir, first, _, _ = parts[0]
    for d, meta, _, _ in parts[1:]:
        for key in SHARED:
            if meta.get(key) != first.get(key):
                raise ShardError(f"{d} is not a shard of the same run as {first_dir}: {key} is "
                                 f"{meta.get(key)!r} there, {first.get(key)!r} in {first_dir}")
    shards = [meta.get("shard") for _, meta, _, _ in parts]
    if any(s is None for s in shards):
        unsharded = [str(d) for (d, _, _, _), s in zip(parts, shards) if s is None]
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
    unfinished = [str(d) for d, meta, _, _ in parts if "finished" not in meta]
    if unfinished and not partial:
        raise ShardError(f"unfinished shard(s) (finish them with 'run --resume', or --partial): "
                         f"{', '.join(unfinished)}")
    try:
        prepare_directory(out, force=force)
    except ResultsError as exc:
        raise ShardError(str(exc).replace("--resume continues it, ", "")) from None
    counts: collections.Counter = collections.Counter()
    ordered = sorted(parts, key=lambda p: p[1]["shard"]["index"])

    def write_results(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as results:
            for _, _, records, _ in ordered:
                for r in records:
                    results.write(record_line(r))
                    counts[f"{r['framework']}:{r['outcome']}"] += 1

    def write_cases(tmp: Path) -> None:
        written: set[str] = set()
        with open(tmp, "w", encoding="utf-8") as case_file:
            for _, _, _, cases in ordered:
                for case_id, case in cases.items():
                    if case_id not in written:
                        written.add(case_id)
                        case_file.write(case_line(case))
    write_atomically(out / RESULTS_FILE, write_results)
    write_atomically(out / CASES_FILE, write_cases)
    meta = {k: v for k, v in first.items() if k not in ("shard", "counts")}
    meta.pop("finished", None)
    if not missing and not unfinished:
        meta["finished"] = max(m["finished"] for _, m, _, _ in parts)
    else:
        meta["stopped"] = {"at": now(), "why": "merged with --partial: " + "; ".join(
            ([f"shard(s) {missing} missing"] if missing else []) + ([f"unfinished: {', '.join(unfinished)}"]
                                                                   if unfinished else []))}
    meta.update(started=min(m["started"] for _, m, _, _ in parts),
                merged=now(), losses=sorted({loss for _, m, _, _ in parts for loss in m.get("losses", [])}),
                counts=dict(sorted(counts.items())),
                # the wall time of the joined run: its slowest shard (they ran side by side)
                elapsed_s=max((m.get("elapsed_s") or 0 for _, m, _, _ in parts), default=0),
                shards=[{"directory": str(d), "index": m["shard"]["index"], "count": count,
                         "elapsed_s": m.get("elapsed_s"), "machine": m.get("machine")}
                        for d, m, _, _ in sorted(parts, key=lambda p: p[1]["shard"]["index"])],
                missing_shards=missing, unfinished_shards=unfinished)
    write_json_atomic(out / RUN_FILE, meta)
    return meta

