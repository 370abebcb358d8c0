"""A run killed with SIGKILL at any moment loses nothing: ``--resume`` ends with the
bytes of an uninterrupted run (results.jsonl and cases.jsonl), whatever was being
written when it died. Two frameworks run in worker processes (the NumPy baseline and
the example user adapter) on one loss (every dtype, the default profile's worst-case
searches: a run of a few seconds, so forty of them fit in ``make test``), so the
kills land between checks, inside a unit's records, during a search and at start-up."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "adapters" / "example_user_adapter.py")
RUN = [sys.executable, "-m", "conformance", "run", "--frameworks", "numpy", "--adapter", EXAMPLE,
       "--losses", "mse", "--profile", "default", "--no-example-db"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
#: where the kills land: at once (before anything is written), as soon as run.json
#: exists, at 17 points through results.jsonl, and once every record is in
MOMENTS = ["at-once", "run.json", *[f"{k / 18:.3f}" for k in range(1, 18)], "all-records"]


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RUN, "--out", str(out), *extra], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "run"
    done = _run(out)
    assert done.returncode == 0, done.stderr
    return out


def _kill_at(moment: str, out: Path, total: int) -> int:
    """Start the run and SIGKILL it at ``moment``; the bytes of results.jsonl it left."""
    proc = subprocess.Popen([*RUN, "--out", str(out)], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.time() + 120
    if moment != "at-once":
        while proc.poll() is None and time.time() < deadline:
            if moment == "run.json":
                if (out / "run.json").exists():
                    break
            elif results.exists() and results.stat().st_size >= (total if moment == "all-records"
                                                                  else float(moment) * total):
                break
            time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return results.stat().st_size if results.exists() else 0


def _same_bytes(a: Path, b: Path) -> None:
    for name in ("results.jsonl", "cases.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs from the clean run's"


@pytest.mark.slow
def test_a_run_killed_at_any_of_twenty_moments_resumes_to_the_bytes_of_an_uninterrupted_run(clean, tmp_path):
    total = (clean / "results.jsonl").stat().st_size
    records = len((clean / "results.jsonl").read_text().splitlines())

    def attempt(moment: str) -> tuple[str, int, int, str]:
        out = tmp_path / f"killed-{moment}"
        left = _kill_at(moment, out, total)
        resumed = _run(out, "--resume")
        return moment, left, resumed.returncode, resumed.stderr

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(attempt, MOMENTS))
    cut_short = 0
    for moment, left, code, err in outcomes:
        out = tmp_path / f"killed-{moment}"
        assert code == 0, f"{moment}: {err}"
        _same_bytes(clean, out)
        meta = json.loads((out / "run.json").read_text())
        assert "finished" in meta and "stopped" not in meta
        assert sum(meta["counts"].values()) == records
        cut_short += 0 < left < total
    assert cut_short >= 12, "most kills should land while records are being written"


@pytest.mark.slow
@pytest.mark.parametrize("where", [0.13, 0.5, 0.87])
def test_a_unit_whose_records_were_written_in_part_is_not_counted_as_done(clean, tmp_path, where):
    """A full disk or a kill during a large write leaves part of a unit's records after
    the last unit progress.jsonl vouches for: that part is never read as results, it is
    cut off on resume and the unit is redone."""
    from conformance.results import load
    out = tmp_path / "partial"
    shutil.copytree(clean, out)
    data = (out / "results.jsonl").read_bytes()
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    cut = data.rfind(b"\n", 0, int(len(data) * where)) + 1 + 7          # a few bytes into a record
    vouched = [p for p in progress if p["results"] <= cut]
    assert vouched[-1]["results"] < cut, "the cut must fall inside a unit"
    (out / "results.jsonl").write_bytes(data[:cut])
    (out / "progress.jsonl").write_text("".join(json.dumps(p) + "\n" for p in vouched))
    meta = json.loads((out / "run.json").read_text())
    del meta["finished"]
    (out / "run.json").write_text(json.dumps(meta))
    _, partial, _ = load(out)
    assert len(partial) == data[:vouched[-1]["results"]].count(b"\n") < data[:cut].count(b"\n") + 1
    resumed = _run(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _same_bytes(clean, out)
