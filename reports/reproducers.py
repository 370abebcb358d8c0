"""Reproducers: for each discrepancy of a run, a directory a framework maintainer can use.

``write`` makes RESULTS/reproducers/<slug>/ per discrepancy group with
  * ``inputs.npz``: the case's arrays exactly as the framework got them (rounded to
    the dtype, stored in float64; class indices int64), the float64 oracle's answer
    for the checked quantity (``oracle_lo/hi`` bounds, the same values rounded to the
    dtype, ``oracle_scale``), the documented policy's answer where the framework has
    one, and any tensor the recipe made on the way (``extra_N``);
  * ``<framework>_repro.py``: imports only NumPy and the framework, rebuilds the
    tensors, makes the same call, judges the result by the suite's rule and prints
    REPRODUCED (exit 0) or NOT REPRODUCED (exit 1);
  * ``BUG.md``: a draft upstream bug report (repro_bug).
and an index (README.md, index.json) with every group's status.

A discrepancy is a failing record (mismatch, nonfinite-mismatch, error-mismatch; not
``documented``), grouped as the report groups them: (framework, loss, variant, check,
outcome, finding). Each group gets one directory, from its smallest example (CPU
first, fewest elements); when that one yields no working script the next two are
tried. crash, timeout, device-mismatch and mode-mismatch groups (and every failure in a
mode other than the default: the script makes the plain call) are listed without a directory: a
script cannot print a verdict after the interpreter died, and a device difference
needs the device.

The script makes "the same call": for a native recipe, the one framework call the
recipe makes, captured while it runs (repro_capture); otherwise, or when that call
cannot reproduce a gradient (the checked argument reaches it only through an
intermediate), the recipe's own source, inlined (repro_inline). Every script is run
once here, in this process, and must print REPRODUCED and compute what the adapter
computes now; otherwise the next option is tried and the group's status says why.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from adapters.native_logs import GPU_PROBE, TF_RAISED, filtered_stderr
from conformance.vocab.modes import label
from conformance.vocab.atomic import remove_stale_temporaries
from conformance.vocab.case import Case
from conformance.vocab.records import Record
from conformance.vocab.reproducer import Spec

from . import repro_bug, repro_check, repro_script
from .repro_example import Example, example, specs

DIRECTORY = "reproducers"
MARKER = ".generated-by-loss-conformance"
SCRIPTED = ("mismatch", "nonfinite-mismatch", "error-mismatch")
NOT_SCRIPTED = {
    "crash": "the framework crashed the worker process: a script cannot report after that; re-run the case "
             "with --isolation process",
    "timeout": "the framework did not finish in time: re-run the case with a longer --timeout",
    "device-mismatch": "a difference between a device and the CPU: re-run the case on that device",
    "mode-mismatch": "a difference between an execution mode and the framework's plain call: re-run the case "
                     "with --modes",
}
CANDIDATES = 3                 # examples tried per group
MAX_ELEMENTS = 2_000_000       # larger cases (LLM-scale) get BUG.md and inputs, not a script run here
QUIET = TF_RAISED + GPU_PROBE          # framework log lines that are no news here
SEVERITY = ("error-mismatch", "nonfinite-mismatch", "mismatch", "device-mismatch", "mode-mismatch", "timeout",
            "crash")


@dataclass
class Entry:
    """One discrepancy group and what was written for it."""
    slug: str
    framework: str
    loss: str
    variant: str
    check: str
    outcome: str
    finding: str
    count: int
    status: str = "skipped"    # reproduced | not reproduced | not verified | no script | skipped
    how: str = ""              # call (the framework call) | recipe (the suite's recipe, inlined)
    reason: str = ""
    dtype: str = ""
    case: str = ""


def slug(framework: str, loss: str, variant: str, check: str, outcome: str, finding: str) -> str:
    text = "-".join([framework, loss, variant, check.replace(":", "_"), outcome]) + (f"--{finding}" if finding else "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def groups(records: list[Record]) -> dict[tuple, list[Record]]:
    """Failing records (not ``documented``) by (framework, loss, variant, check, outcome, finding)."""
    found: dict[tuple, list[Record]] = {}
    for r in records:
        if r.mode is not None:      # a script makes the plain call: a mode's discrepancy is listed, not scripted
            if r.failing:
                key = (label(r.framework, r.mode), r.loss, r.variant, r.check, r.outcome, r.finding or "")
                found.setdefault(key, []).append(r)
            continue
        if r.outcome in SCRIPTED or r.outcome in NOT_SCRIPTED:
            key = (r.framework, r.loss, r.variant, r.check, r.outcome, r.finding or "")
            found.setdefault(key, []).append(r)
    return dict(sorted(found.items(), key=lambda kv: (SEVERITY.index(kv[0][4]), kv[0])))


def _size(case: Case) -> int:
    return sum(int(np.asarray(a).size) for a in case.arrays.values())


def _dtype_rank(dtype: str) -> int:
    """float32 first: the dtype most reports are about; the half types last."""
    order = ("float32", "float64", "bfloat16", "float16")
    return order.index(dtype) if dtype in order else len(order)


def candidates(rs: list[Record], cases: Mapping[str, Case]) -> list[tuple[Record, Case]]:
    """Up to CANDIDATES examples of a group, simplest first: on the CPU, fewest elements."""
    ranked = sorted(((r, cases[r.case]) for r in rs if r.case in cases),
                    key=lambda rc: (rc[0].device != "cpu", _size(rc[1]), _dtype_rank(rc[0].dtype), rc[1].id))
    out, seen = [], set()
    for r, c in ranked:
        if (c.id, r.dtype, r.device) not in seen:
            seen.add((c.id, r.dtype, r.device))
            out.append((r, c))
    return out[:CANDIDATES]


def _try(ex: Example, directory: Path, results: str, verify: bool) -> tuple[str, str, str, str]:
    """Write inputs and a script for ``ex`` into ``directory``: (status, how, reason, output)."""
    fw = ex.record.framework
    for stale in [*directory.glob("*_repro.py"), *directory.glob("inputs.npz")]:    # an earlier example's
        stale.unlink()
    if _size(ex.case) > MAX_ELEMENTS:
        return "no script", "", (f"the smallest example has {_size(ex.case)} elements (scripts and inputs.npz "
                                 f"up to {MAX_ELEMENTS}); its case is {ex.case.id} in the run's cases.jsonl"), ""
    np.savez_compressed(directory / "inputs.npz", **ex.inputs)
    if ex.adapter is None:
        return "no script", "", ex.draft.reason, ""
    if ex.expect is None:
        return "no script", "", "an error-mismatch of a kind the scripts do not express", ""
    name = f"{fw}_repro.py"
    reasons, fallback = [], None
    for how, spec, why in specs(ex, results, name):
        if spec is None:
            reasons.append(why)
            continue
        _write(ex, how, spec, directory, name)
        if not verify:
            return "not verified", how, "; ".join(reasons), ""
        code, output, namespace = repro_check.run_script(directory / name)
        problem = (output.strip().splitlines() or ["no output"])[-1] if code != 0 else ""
        if not problem and ex.expect == "numbers":
            problem = repro_check.same_as_adapter(ex, namespace, directory / "inputs.npz")
        if not problem:
            return "reproduced", how, "; ".join(reasons), output
        reasons.append(f"{how}: {problem}")
        fallback = fallback or (how, spec, output)
    if fallback is None:
        return "no script", "", "; ".join(reasons), ""
    how, spec, output = fallback          # keep the first script, marked as not reproducing
    _write(ex, how, spec, directory, name)
    return "not reproduced", how, "; ".join(reasons), output


def _write(ex: Example, how: str, spec: Spec, directory: Path, name: str) -> None:
    """inputs.npz (with the call's extra arrays) and the script; the draft learns the call."""
    extras = {k: v for k, (v, _) in spec.call.extras.items()} if spec.call is not None else {}
    np.savez_compressed(directory / "inputs.npz", **ex.inputs, **extras)
    ex.draft.call, ex.draft.how = repro_script.call_text(spec, ex.writer), how
    ex.draft.callee = spec.call.api if spec.call is not None else ""
    ex.draft.used = tuple(sorted(spec.call.direct)) + tuple(spec.call.extras) if spec.call is not None else ()
    ex.draft.extras = dict(spec.call.extras) if spec.call is not None else {}
    spec.title = repro_bug.title(ex.draft)
    (directory / name).write_text(repro_script.render(spec, ex.writer), encoding="utf-8")


# -- the whole run -----------------------------------------------------------------------
def write(results: Path, meta: Mapping[str, Any], records: list[Record], cases: Mapping[str, Case],
          out: Path | None = None, *, verify: bool = True,
          progress: Callable[[str], None] | None = None) -> list[Entry]:
    """Write every group's reproducer under ``out`` (default RESULTS/reproducers), replacing
    what an earlier call wrote there; return the index entries."""
    out = Path(out) if out is not None else Path(results) / DIRECTORY
    if out.exists() and not (out / MARKER).exists():
        raise FileExistsError(f"{out} exists and was not written by loss-conformance; move it or choose another place")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out.parent, (out.name,))         # what a killed report left
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    (work / MARKER).write_text("reproducers written by `python -m conformance report`\n", encoding="utf-8")
    entries = []
    try:
        for key, rs in groups(records).items():
            try:
                with filtered_stderr(QUIET):       # TF logs each op error it then raises
                    entries.append(_group(key, rs, cases, meta, work, str(results), verify))
            except Exception as exc:  # noqa: BLE001 - one group's failure must not cost the others
                entries.append(Entry(slug(*key), *key, len(rs), status="error",
                                     reason=f"{type(exc).__name__}: {exc}"))
            if progress:
                e = entries[-1]
                progress(f"{e.slug}: {e.status}" + (f" ({e.reason[:100]})" if e.reason and e.status != "reproduced" else ""))
        _index(work, entries, meta)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return entries


def write_beside(report: Path, results: Path, meta: Mapping[str, Any], records: list[Record],
                 cases: Mapping[str, Case]) -> str:
    """``write`` into ``reproducers/`` next to the report; one line saying what was written."""
    out = Path(report).parent / DIRECTORY
    entries = write(results, meta, records, cases, out)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no discrepancy"
    return f"reproducers written to {out.resolve()} ({len(entries)} discrepancy groups: {detail})"


def _group(key: tuple, rs: list[Record], cases: Mapping[str, Case], meta: Mapping[str, Any],
           work: Path, results: str, verify: bool) -> Entry:
    fw, loss, variant, check, outcome, finding = key
    entry = Entry(slug(*key), fw, loss, variant, check, outcome, finding, len(rs))
    if outcome in NOT_SCRIPTED:
        entry.reason = NOT_SCRIPTED[outcome]
        return entry
    if rs[0].mode is not None:
        entry.reason = (f"in the {rs[0].mode} mode: a script makes the framework's plain call; re-run the case "
                        f"with --modes {rs[0].mode}")
        return entry
    picks = candidates(rs, cases)
    if not picks:
        entry.reason = "the run holds none of this group's cases (cases.jsonl)"
        return entry
    directory = work / entry.slug
    directory.mkdir()
    dtypes = sorted({r.dtype for r in rs})
    first = None
    try:
        for record, case in picks:
            ex = example(record, case, meta, entry.slug, len(rs), dtypes)
            status, how, reason, output = _try(ex, directory, results, verify)
            first = first or (ex, status, how, reason, output)
            if status in ("reproduced", "not verified"):
                break
        else:                      # none reproduced: keep the simplest example's files
            if ex is not first[0]:
                _try(first[0], directory, results, verify)
            ex, status, how, reason, output = first
    finally:
        if first is not None and first[0].adapter is not None:
            first[0].adapter.release()          # JAX: drop the compiled executables of this group
    ex.draft.script = f"{fw}_repro.py" if (directory / f"{fw}_repro.py").exists() else ""
    ex.draft.status, ex.draft.how, ex.draft.reason, ex.draft.output = status, how, reason, output
    (directory / "BUG.md").write_text(repro_bug.render(ex.draft), encoding="utf-8")
    entry.status, entry.how, entry.reason = status, how, reason
    entry.dtype, entry.case = ex.record.dtype, ex.case.id
    return entry


def _index(work: Path, entries: list[Entry], meta: Mapping[str, Any]) -> None:
    (work / "index.json").write_text(json.dumps({"frameworks": meta.get("frameworks", {}),
                                                 "entries": [asdict(e) for e in entries]}, indent=2) + "\n",
                                     encoding="utf-8")
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.status] = counts.get(e.status, 0) + 1
    lines = ["# Reproducers", "",
             "One directory per discrepancy group: `inputs.npz`, `<framework>_repro.py` (NumPy and the framework "
             "only; exit 0 and REPRODUCED while the discrepancy is there) and `BUG.md` (a draft upstream report).",
             "", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), "",
             "| directory | framework | loss | check | outcome | finding | checks | script |", "|---|---|---|---|---|---|---|---|"]
    for e in entries:
        where = f"[{e.slug}]({e.slug}/BUG.md)" if (work / e.slug).exists() else e.slug
        status = e.status + (f" ({e.how})" if e.how else "") + (f": {e.reason}" if e.reason else "")
        lines.append(f"| {where} | {e.framework} | {e.loss} ({e.variant}) | {e.check} | {e.outcome} | "
                     f"{e.finding or '—'} | {e.count} | {status.replace('|', '/')} |")
    (work / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
