"""python -m conformance bench: where the suite's time goes, per framework.

A fixed case set (the generated cases of every catalog cell at the quick
profile's size, seed 0) runs per framework in a fresh process, so import time
and peak memory are that framework's alone:

* import   — importing the framework (what every run pays once per process);
* cold     — the first pass of ``engine.check`` over the cases (compiles, caches);
* suite    — a second pass with the oracle's cache emptied: what a check costs
             the suite once the framework is warm (oracle, adapter, compare);
* floor    — a tight loop of the same framework calls (forward + backward) on
             the same inputs, already converted to the framework's tensors
             (scaled to the whole case set when the framework refuses a few);
* ratio    — suite / floor: the suite's overhead over the framework's own time;
* oracle   — the oracle's evaluations alone for the same cases (cache emptied);
* bound    — (oracle + floor) / floor: the ratio of a suite that did nothing but
             evaluate this oracle and call the framework, case by case (no
             comparison, no records): what no faster comparison can go below;
* peak MB  — the process's peak resident memory.
"""
from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import time
from typing import Any

from . import frameworks

from . import cells, oracle
from .check import check

EXAMPLES, SEED = 4, 0


def bench_cases() -> list:
    return [c for cell in cells.cells() if cell.generated for c in cells.cases_for(cell, EXAMPLES, SEED)]


def measure(framework: str, dtype: str, repeat: int) -> dict[str, Any]:
    """The figures for one framework (call in a fresh process)."""
    adapter = frameworks.get(framework)
    start = time.perf_counter()
    reason = adapter.unavailable()
    if reason:
        return {"framework": framework, "unavailable": reason}
    import_s = time.perf_counter() - start
    cases = [c for c in bench_cases() if adapter.support(c).kind != "unsupported"]

    def suite_pass() -> float:
        oracle.clear_cache()
        t = time.perf_counter()
        for c in cases:
            check(c, adapter, "cpu", dtype)
        return time.perf_counter() - t
    cold_s, suite_s = suite_pass(), suite_pass()
    oracle.clear_cache()
    gc.collect()                   # a collection of the suite's garbage is not the oracle's (JAX's: 0.6 s)
    t = time.perf_counter()
    for c in cases:
        oracle.oracle(c, dtype)
    oracle_s = time.perf_counter() - t
    calls = []
    for c in cases:                # the cases the framework computes (it may refuse a few)
        o = oracle.oracle(c, dtype)
        if o.error is None:
            try:
                call = adapter.prepare(c, o.arrays, dtype, "cpu", oracle.differentiable(c, o))
                call()             # warm
            except Exception:  # noqa: BLE001 - a refusal is not part of the floor
                continue
            calls.append(call)
    t = time.perf_counter()
    for _ in range(repeat):
        for call in calls:
            call()
    floor_s = (time.perf_counter() - t) / repeat * len(cases) / max(len(calls), 1)
    return {"framework": framework, "version": adapter.version(), "dtype": dtype, "cases": len(cases),
            "import_s": round(import_s, 3), "cold_s": round(cold_s, 3), "suite_s": round(suite_s, 3),
            "cases_per_s": round(len(cases) / suite_s, 1), "floor_s": round(floor_s, 3),
            "ratio": round(suite_s / floor_s, 2) if floor_s else None, "oracle_s": round(oracle_s, 3),
            "bound": round((oracle_s + floor_s) / floor_s, 2) if floor_s else None,
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run(names: list[str], dtype: str, repeat: int) -> list[dict[str, Any]]:
    """Each framework measured in its own interpreter."""
    rows = []
    for name in names:
        code = ("import json, sys; from conformance.bench import measure; "
                f"print(json.dumps(measure({name!r}, {dtype!r}, {repeat})))")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            rows.append({"framework": name, "error": done.stderr.strip().splitlines()[-1:] or ["failed"]})
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["process_s"] = round(time.perf_counter() - start, 2)
        rows.append(row)
    return rows


COLUMNS = ("framework", "cases", "import_s", "cold_s", "suite_s", "cases_per_s", "floor_s", "ratio", "oracle_s",
           "bound", "peak_mb", "process_s")


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["".join(f"{c:>13}" for c in COLUMNS)]
    for row in rows:
        if "unavailable" in row or "error" in row:
            lines.append(f"{row['framework']:>13}  {row.get('unavailable') or row.get('error')}")
            continue
        lines.append("".join(f"{row.get(c, ''):>13}" for c in COLUMNS))
    return "\n".join(lines)
