"""Nothing is lost and nothing is overwritten by surprise: an abnormal end is never
marked finished (and merge refuses it), a run never lands silently on another, a
replaced run leaves nothing stale beside it, a full disk names the file and keeps
what was computed, and a killed report leaves no hidden temporary directory."""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance import results, shards
from conformance.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
QUICK = ["--frameworks", "numpy", "--losses", "mse,l1", "--profile", "quick"]


def run(*args: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["run", *args])


def meta(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


# -- an abnormal end is never marked finished -------------------------------------------
BREAKS_LATE = '''
from adapters.example_user_adapter import HandWrittenNumpy

class BreaksLate(HandWrittenNumpy):
    name = "breaks_late"
    calls = 0

    def _run(self, *args):
        type(self).calls += 1
        return None if type(self).calls > 40 else super()._run(*args)

ADAPTER = BreaksLate()
'''


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["process", "none"])
def test_an_adapter_breaking_the_protocol_mid_run_stops_it_unfinished_with_one_message(tmp_path, capsys,
                                                                                       isolation):
    path = tmp_path / "late.py"
    path.write_text(BREAKS_LATE)
    out = tmp_path / "r"
    assert run("--adapter", str(path), "--losses", "mse", "--profile", "quick", "--isolation", isolation,
               "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "adapter 'breaks_late' broke the protocol on mse: it returned NoneType" in err
    assert err.count("error:") == 1 and "Traceback" not in err
    m = meta(out)
    assert "finished" not in m and "AdapterContractError" in m["stopped"]["why"]
    assert 0 < len(results.load(out)[1]) < 100          # what was computed is kept


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_leaves_the_run_unfinished_and_resumable(tmp_path, sig, code):
    out = tmp_path / "r"
    # one loss on the ci profile: long enough (seconds after its first results) that the signal lands mid-run
    args = [sys.executable, "-m", "conformance", "run", "--frameworks", "numpy,torch", "--losses",
            "mse", "--profile", "ci", "--modes", "none", "--out", str(out)]
    # as from a terminal: a shell's background job (nohup, &) inherits SIGINT ignored
    proc = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not ((out / "results.jsonl").exists()
                                          and (out / "results.jsonl").stat().st_size > 20_000):
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "unfinished" in err and "--resume" in err and "Traceback" not in err
    m = meta(out)
    assert "finished" not in m and m["stopped"]["why"].startswith("interrupted by SIG")
    resumed = subprocess.run([*args, "--resume"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "finished" in meta(out) and "stopped" not in meta(out)


@pytest.mark.slow
def test_merge_refuses_an_unfinished_shard_and_shards_of_other_selections(tmp_path, capsys):
    base = ["--frameworks", "numpy", "--profile", "quick", "--isolation", "none"]
    one, two, other = tmp_path / "1", tmp_path / "2", tmp_path / "other"
    assert run(*base, "--losses", "mse,l1", "--shard", "1/2", "--out", str(one)) == 0
    assert run(*base, "--losses", "mse,l1", "--shard", "2/2", "--out", str(two)) == 0
    assert run(*base, "--losses", "mse,l1,huber", "--shard", "2/2", "--out", str(other)) == 0
    assert main(["merge", str(one), str(other), "--out", str(tmp_path / "m")]) == 2
    assert "selection is" in capsys.readouterr().err
    m = meta(two)
    del m["finished"]
    (two / "run.json").write_text(json.dumps(m))
    assert main(["merge", str(one), str(two), "--out", str(tmp_path / "m")]) == 2
    assert "unfinished shard(s)" in capsys.readouterr().err
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["merge", str(one), str(two), "--partial", "--no-reproducers", "--out", str(tmp_path / "p")]) == 0
    merged = meta(tmp_path / "p")
    assert "finished" not in merged and "unfinished" in merged["stopped"]["why"]


# -- never overwrite a run silently -------------------------------------------------------
@pytest.fixture
def reported(tmp_path) -> Path:
    """A finished run with its report, CSV, Parquet, summary and reproducers."""
    out = tmp_path / "r"
    assert run("--frameworks", "numpy", "--losses", "mse", "--profile", "quick", "--dtypes", "float16",
               "--out", str(out)) == 0
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(out)]) == 0
    assert {"report.html", "results.csv", "results.parquet", "summary.md", "reproducers"} <= {
        p.name for p in out.iterdir()}
    return out


@pytest.mark.slow
def test_run_onto_a_directory_holding_a_run_or_other_files_exits_2_naming_it(reported, tmp_path, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in reported.iterdir()}
    assert run(*QUICK, "--out", str(reported)) == 2
    err = capsys.readouterr().err
    assert f"{reported} already holds a run (profile quick" in err and "--force replaces it" in err
    assert {p.name: p.stat().st_mtime_ns for p in reported.iterdir()} == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("do not lose me")
    assert run(*QUICK, "--out", str(mine)) == 2
    assert f"{mine} is not empty (it holds thesis.tex)" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]


@pytest.mark.slow
def test_force_replaces_a_run_and_leaves_nothing_of_it_behind_but_other_files(reported, capsys):
    (reported / "notes.txt").write_text("keep")
    old = meta(reported)["started"]
    time.sleep(1.1)
    assert run(*QUICK, "--force", "--out", str(reported)) == 0
    left = {p.name for p in reported.iterdir()}
    assert left == {"run.json", "results.jsonl", "cases.jsonl", "progress.jsonl", "notes.txt"}
    assert meta(reported)["started"] != old and meta(reported)["losses"] == ["l1", "mse"]
    assert run(*QUICK, "--force", "--resume", "--out", str(reported)) == 2
    assert "give one of them" in capsys.readouterr().err


@pytest.mark.slow
def test_merge_into_one_of_its_shards_or_onto_another_run_exits_2(tmp_path, capsys):
    base = ["--frameworks", "numpy", "--losses", "mse,l1", "--profile", "quick", "--isolation", "none"]
    one, two = tmp_path / "1", tmp_path / "2"
    assert run(*base, "--shard", "1/2", "--out", str(one)) == 0
    assert run(*base, "--shard", "2/2", "--out", str(two)) == 0
    before = (one / "results.jsonl").read_bytes()
    assert main(["merge", str(one), str(two), "--out", str(one)]) == 2
    assert "is one of the shards being merged" in capsys.readouterr().err
    assert (one / "results.jsonl").read_bytes() == before
    target = tmp_path / "merged"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["merge", str(one), str(two), "--no-reproducers", "--out", str(target)]) == 0
        assert main(["merge", str(one), str(two), "--no-reproducers", "--out", str(target)]) == 2
        assert main(["merge", str(one), str(two), "--no-reproducers", "--force", "--out", str(target)]) == 0
    assert "already holds a run" in capsys.readouterr().err


# -- a full disk ----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_full_disk_names_the_file_keeps_the_run_and_resume_finishes_it(tmp_path, capsys, monkeypatch):
    clean, out = tmp_path / "clean", tmp_path / "full"
    args = [*QUICK, "--isolation", "none", "--no-example-db"]
    assert run(*args, "--out", str(clean)) == 0
    real = results.ResultWriter._append
    calls = [0]

    class Full:
        """A file on a disk that fills up: part of the unit gets there."""
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:37])
            raise OSError(errno.ENOSPC, "No space left on device")

    def append(self, f, name, index, lines):
        calls[0] += 1
        return real(self, Full(f) if calls[0] == 150 else f, name, index, lines)
    monkeypatch.setattr(results.ResultWriter, "_append", append)
    assert run(*args, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "the disk is full" in err and "--resume" in err
    assert "finished" not in meta(out)
    monkeypatch.setattr(results.ResultWriter, "_append", real)
    assert run(*args, "--resume", "--out", str(out)) == 0
    for name in ("results.jsonl", "cases.jsonl"):
        assert (out / name).read_bytes() == (clean / name).read_bytes()


@pytest.mark.slow
def test_a_merge_on_a_full_disk_leaves_no_half_results_file(tmp_path, capsys, monkeypatch):
    base = ["--frameworks", "numpy", "--losses", "mse,l1", "--profile", "quick", "--isolation", "none"]
    one, two = tmp_path / "1", tmp_path / "2"
    assert run(*base, "--shard", "1/2", "--out", str(one)) == 0
    assert run(*base, "--shard", "2/2", "--out", str(two)) == 0
    written = [0]
    real = shards.record_line

    def record_line(r):
        written[0] += 1
        if written[0] > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(r)
    monkeypatch.setattr(shards, "record_line", record_line)
    target = tmp_path / "merged"
    assert main(["merge", str(one), str(two), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"the disk is full: {target / 'results.jsonl'}" in err
    assert not (target / "results.jsonl").exists() and not [p for p in target.iterdir() if p.name.startswith(".")]


# -- a killed report ------------------------------------------------------------------------
@pytest.mark.slow
def test_a_killed_report_leaves_no_hidden_temporary_directory(reported):
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "report", str(reported)], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not any(
            p.name.startswith(".reproducers.") for p in reported.iterdir()):
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)                       # cleaned up on the way out
    proc.wait(timeout=60)
    assert not [p.name for p in reported.iterdir() if p.name.startswith(".")]
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "report", str(reported)], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.time() < deadline and proc.poll() is None and not any(
            p.name.startswith(".reproducers.") for p in reported.iterdir()):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)                       # no chance to clean: the next report does
    proc.wait(timeout=60)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(reported)]) == 0
    assert not [p.name for p in reported.iterdir() if p.name.startswith(".")]
    assert (reported / "reproducers" / "index.json").is_file()
