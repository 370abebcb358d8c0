"""What the commands show a person at a terminal, and what they leave in a log: run's
progress bar (units done of the units planned) or one line per loss, the version."""
from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conformance import cells, engine, profiles
from conformance.commands.progress import LINE, Progress

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
RUN = [sys.executable, "-m", "conformance", "run", "--frameworks", "numpy", "--profile", "smoke", "--force"]
ESCAPE = "\x1b["
_UNIT_DONE = re.compile(r"\b[1-9]\d*/\d+ units")
_ESCAPE_CODE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _plain(text: str) -> str:
    """What the terminal shows, its escape codes removed."""
    return _ESCAPE_CODE.sub("", text)


@pytest.mark.slow
def test_the_units_planned_before_a_run_are_the_units_it_yields_resumed_or_not():
    from fakes import correct
    profile = profiles.get("default")            # it searches, and samples cases for the modes
    cell_list = [c for c in cells.cells(("mse",), profile) if c.source != "large"]
    adapter = correct("mse")
    args = (cell_list, ("float64", "float32"), ("cpu",), profile, 0)
    plan = engine.planned([adapter], *args, modes=("compiled",))
    yielded = [u.key for u in engine.iterate([adapter], *args, modes=("compiled",))]
    assert any("#search|" in k for k in yielded) and any(k.endswith("|compiled") for k in yielded)
    assert list(plan) == yielded and set(plan.values()) == {"mse"}
    done = set(yielded[::2])
    rest = engine.planned([adapter], *args, done=done.__contains__, modes=("compiled",))
    assert list(rest) == [u.key for u in engine.iterate([adapter], *args, done=done.__contains__,
                                                        modes=("compiled",))] == yielded[1::2]


def test_off_a_terminal_progress_is_one_plain_line_per_loss():
    stream = io.StringIO()
    with Progress(5, time.perf_counter(), stream) as progress:
        for loss, checks in [("mse", 3), ("mse", 2), ("huber", 4), ("ctc", 0), ("ctc", 1)]:
            progress.unit(loss, checks)
        progress.finish_loss()
    lines = stream.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["mse", "5"], ["huber", "4"], ["ctc", "1"]]
    assert ESCAPE not in stream.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_counts_units_of_the_planned_total_and_prints_each_loss_above_it():
    stream = _Terminal()
    with Progress(3, time.perf_counter(), stream) as progress:
        progress.unit("mse", 2)
        progress.unit("huber", 4)
        progress.unit("huber", 1)
        progress.finish_loss()
    shown = _plain(stream.getvalue())
    assert ESCAPE in stream.getvalue() and "3/3 units" in shown and "7 checks" in shown
    assert re.search(LINE.split("(")[0].format(loss="huber", checks=5).rstrip(), shown)


def _under_a_terminal(command: list[str], interrupt: bool = False) -> tuple[int, str, str]:
    """Run ``command`` with its stderr on a pseudo-terminal: (exit code, stdout, the
    terminal's bytes). ``interrupt``: Ctrl-C once the bar counts a unit done (not once
    progress.jsonl has a line: records are written in canonical order, so under load
    the first loss's slowest unit can hold every line back until the run's end)."""
    leader, follower = pty.openpty()
    # Ctrl-C at a terminal reaches a process that has not ignored SIGINT: a shell's background
    # job (a CI launched with &) ignores it, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=follower, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(follower)
    seen: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:                       # the other end closed
                return
            if not chunk:
                return
            seen.append(chunk)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if interrupt:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not _UNIT_DONE.search(
                _plain(b"".join(seen).decode(errors="replace"))):
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    reader.join(10)
    os.close(leader)
    return proc.returncode, out, b"".join(seen).decode(errors="replace")


@pytest.mark.slow
def test_a_run_on_a_terminal_shows_the_bar_to_its_exact_total_and_keeps_stdout_plain(tmp_path):
    out = tmp_path / "res"
    code, stdout, terminal = _under_a_terminal([*RUN, "--losses", "mse,bce", "--out", str(out)])
    assert code == 0, terminal
    units = (out / "progress.jsonl").read_text().count("\n")
    shown = _plain(terminal)
    assert f"{units}/{units} units" in shown and f" 0/{units} units" in shown
    assert ESCAPE not in stdout and re.search(r"failing check\(s\): \d+ explained", stdout)


@pytest.mark.slow
def test_a_run_in_a_log_prints_one_line_per_loss_and_no_escape_codes(tmp_path):
    done = subprocess.run([*RUN, "--losses", "mse,bce", "--out", str(tmp_path / "res")], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stderr.splitlines()] == ["mse", "bce"]
    assert ESCAPE not in done.stderr + done.stdout


@pytest.mark.slow
def test_ctrl_c_under_the_bar_restores_the_terminal_and_the_run_resumes(tmp_path):
    out = tmp_path / "res"
    # ~9 s of run, ~6 s of it after the first unit (ctc's oracle alone ~3.5 s), so the Ctrl-C
    # lands mid-run on a loaded machine too (six cheap losses left about a second)
    losses = "mse,bce,huber,l1,hinge_embedding,poisson_nll,ctc,triplet_margin,gaussian_nll,cross_entropy"
    code, _, terminal = _under_a_terminal([*RUN, "--losses", losses, "--out", str(out)], interrupt=True)
    assert code == 130, terminal
    assert "\x1b[?25h" in terminal and "--resume" in terminal         # the cursor back, the way on
    resumed = subprocess.run([*RUN[:-1], "--losses", losses, "--out", str(out), "--resume"], cwd=ROOT, env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "run.json").read_text()).get("finished")


# ------------------------------------------------------------------ the version, the command's name
@pytest.mark.slow
def test_version_names_the_suite_and_each_installed_framework_and_imports_none(tmp_path):
    from importlib import metadata
    from conformance import version
    probe = ("import sys\nfrom conformance.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit as e:\n"
             "    print('exit', e.code)\nprint('imported', sorted(m for m in ('torch', 'jax', 'tensorflow', 'keras')"
             " if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=120)
    lines = done.stdout.splitlines()
    assert lines[0] == f"python -m conformance {metadata.version('loss-conformance')}"
    for name in version.FRAMEWORKS:
        want = version.installed(name) or "not installed"
        assert any(line.split() == [name, *want.split()] for line in lines), (name, lines)
    assert lines[-2:] == ["exit 0", "imported []"]


@pytest.mark.slow
def test_usage_names_the_command_as_it_was_typed(tmp_path):
    script = tmp_path / "conformance"             # what the console script [project.scripts] runs
    script.write_text("import sys\nfrom conformance.cli import main\nsys.exit(main())\n")
    for command, name in [([sys.executable, str(script)], "conformance"),
                          ([sys.executable, "-m", "conformance"], "python -m conformance")]:
        done = subprocess.run([*command, "--help"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.startswith(f"usage: {name} "), done.stdout[:200]


def test_the_console_script_is_named_as_the_readme_calls_it():
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["conformance"] == scripts["loss-conformance"] == "conformance.cli:main"
    assert "python -m conformance run" in (ROOT / "README.md").read_text()


# ------------------------------------------------------------------ no TensorFlow log lines
#: absl/TensorFlow C++ log lines (I/W/E + MMDD), their start-up notices, GPU probing chatter
TF_LOG_LINE = re.compile(r"^[IWE]\d{4} |oneDNN|cuda|absl::|cpu_feature_guard|Ignoring Assert", re.IGNORECASE)


def _tensorflow_missing() -> bool:
    import importlib.util
    return importlib.util.find_spec("tensorflow") is None


def _quiet_env() -> dict[str, str]:
    """The environment without TF_CPP_MIN_LOG_LEVEL: the entry point must set it itself."""
    return {k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


@pytest.mark.skipif(_tensorflow_missing(), reason="TensorFlow is not installed")
@pytest.mark.parametrize("command", [["run", "--frameworks", "tensorflow", "--losses", "mse,ctc", "--profile", "smoke",
                                      "--modes", "compiled", "--force"],
                                     ["list", "ctc"]], ids=["run", "list"])
@pytest.mark.slow
def test_commands_print_no_tensorflow_log_lines(command, tmp_path):
    extra = ["--out", str(tmp_path / "res")] if command[0] == "run" else []
    done = subprocess.run([sys.executable, "-m", "conformance", *command, *extra], cwd=ROOT, env=_quiet_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    noise = [line for line in done.stderr.splitlines() if TF_LOG_LINE.search(line)]   # stdout may say CUDA
    assert noise == []


@pytest.mark.slow
@pytest.mark.skipif(_tensorflow_missing(), reason="TensorFlow is not installed")
def test_a_tensorflow_reproducer_prints_no_log_lines_but_keeps_other_stderr(tmp_path):
    from adapters.tensorflow.reproducer import SETUP
    script = tmp_path / "setup.py"         # how every TensorFlow reproducer script begins
    script.write_text(SETUP + "\n\nprint('a real error', file=sys.stderr)\nprint(tf.constant(1.0).numpy())\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_quiet_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "1.0", done.stderr
    assert done.stderr.splitlines() == ["a real error"]


# ------------------------------------------------------------------ list LOSS at 100 columns
def test_wrapping_keeps_a_row_legible_and_a_url_whole():
    from conformance.commands.wrapping import wrap
    url = "https://example.org/" + "a" * 90
    row = "    torch       native     " + "word " * 30 + url
    lines = wrap(row, 100).splitlines()
    assert all(len(line) <= 100 for line in lines if url not in line)
    assert lines[0].startswith("    torch       native     word") and url in lines[-1]
    assert all(line.startswith(" " * 27) and line[27] != " " for line in lines[1:])
    assert " ".join(" ".join(lines).split()) == " ".join(row.split())     # no word lost


@pytest.mark.slow
def test_list_of_every_loss_fits_100_columns_but_for_urls(monkeypatch, capsys):
    from conformance.cli import main
    from conformance.vocab import catalog
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["list", *catalog.catalog()]) == 0
    out = capsys.readouterr().out
    wide = [line for line in out.splitlines() if len(line) > 100]
    assert all(len(line.split()) == 1 and "://" in line for line in wide), wide[:3]
    assert all(f"\n{name}: modes:" in out for name in catalog.catalog())   # every loss was shown
