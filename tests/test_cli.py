"""The command line, in-process through conformance.cli.main (and once as `python -m conformance`):
usage errors exit 2 naming the bad value and the known ones; run/report/list on a tiny matrix."""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance import frameworks
from conformance import profiles
from conformance.vocab import catalog
from conformance.vocab.case import Case
from conformance.cli import main
from conformance.vocab.records import OUTCOMES
from conformance.vocab.dtypes import DTYPES
from conformance.results import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
RECORD_KEYS = {"case", "loss", "variant", "reduction", "origin", "framework", "device", "dtype",
               "check", "outcome", "error_eps", "detail"}
TINY = ["--frameworks", "numpy", "--losses", "l1,cross_entropy", "--profile", "quick"]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "results"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", *TINY, "--out", str(out)]) == 0
    return out


# --------------------------------------------------------------- usage errors

BAD = [
    (["--losses", "l1,no_such_loss"], "no_such_loss", list(catalog.catalog())),
    (["--frameworks", "numpy,mxnet"], "mxnet", frameworks.names()),
    (["--dtypes", "float8_e4m3"], "float8_e4m3", list(DTYPES)),
    (["--devices", "tpu"], "tpu", ["cpu", "cuda"]),
    (["--profile", "enormous"], "enormous", list(profiles.profiles())),
]


@pytest.mark.parametrize("args,bad,known", BAD, ids=["loss", "framework", "dtype", "device", "profile"])
def test_an_unknown_value_exits_2_naming_it_and_listing_the_known_ones(args, bad, known, tmp_path, capsys):
    base = ["--frameworks", "numpy", "--losses", "l1", "--profile", "quick"]
    flags = dict(zip(base[::2], base[1::2])) | dict(zip(args[::2], args[1::2]))
    out = tmp_path / "out"
    code = main(["run", *[x for kv in flags.items() for x in kv], "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert repr(bad) in err, err
    for name in known:
        assert name in err, f"{name!r} missing from: {err}"
    assert err.count("\n") <= 2, "one clear message, not a traceback"
    assert not out.exists(), "a usage error must not start a run"


@pytest.mark.slow
def test_the_module_entry_point_runs_and_passes_the_exit_code_on(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = tmp_path / "res"
    ok = subprocess.run([sys.executable, "-m", "conformance", "run", "--frameworks", "numpy", "--losses", "mse",
                         "--profile", "quick", "--dtypes", "float64", "--out", str(out)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (out / "run.json").is_file() and "checks in" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "conformance", "run", "--losses", "nope"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "'nope'" in bad.stderr


# ------------------------------------------------------------------------ run

@pytest.mark.slow
def test_run_writes_run_metadata_with_schema_profile_seed_versions_and_dtypes(results):
    meta = json.loads((results / "run.json").read_text())
    assert meta["schema"] == SCHEMA
    assert meta["profile"] == "quick" and meta["seed"] == 0
    assert meta["frameworks"] == {"numpy": __import__("numpy").__version__}
    assert meta["dtypes"] == list(profiles.get("quick").dtypes)
    assert meta["losses"] == ["cross_entropy", "l1"] and meta["devices"] == ["cpu"]
    assert "finished" in meta and meta["machine"]["python"]


@pytest.mark.slow
def test_every_result_line_has_the_documented_keys_and_values(results):
    records = jsonl(results / "results.jsonl")
    assert records
    for r in records:
        assert RECORD_KEYS <= set(r), sorted(RECORD_KEYS - set(r))
        assert r["framework"] == "numpy" and r["device"] == "cpu"
        assert r["loss"] in ("l1", "cross_entropy") and r["dtype"] in ("float64", "float32")
        assert r["outcome"] in OUTCOMES and isinstance(r["detail"], str)
        assert r["error_eps"] is None or r["error_eps"] == "inf" or isinstance(r["error_eps"], (int, float))
    assert {r["origin"] for r in records} == {"corpus", "hypothesis", "edge", "document"}
    assert {r["variant"] for r in records if r["loss"] == "cross_entropy"} >= \
        set(catalog.get("cross_entropy").variants) | {"edge", "document"}


def test_the_run_counts_in_run_json_add_up_to_the_result_lines(results):
    meta = json.loads((results / "run.json").read_text())
    assert sum(meta["counts"].values()) == len(jsonl(results / "results.jsonl"))


@pytest.mark.slow
def test_cases_jsonl_holds_every_case_once_under_its_content_id(results):
    rows = jsonl(results / "cases.jsonl")
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    for row in rows:
        assert Case.from_json(row).id == row["id"]
    assert {r["case"] for r in jsonl(results / "results.jsonl")} == set(ids)


# --------------------------------------------------------------------- report

class Resources(HTMLParser):
    """Collects src/href of tags that would load something."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("script", "link", "img", "iframe", "source", "embed", "object"):
            self.urls += [v for k, v in attrs.items() if k in ("src", "href", "data") and v]


@pytest.mark.slow
def test_report_writes_a_self_contained_html_file_with_the_matrix_and_documents(results, capsys):
    assert main(["report", str(results)]) == 0
    html_file = results / "report.html"
    assert str(html_file.resolve()) in capsys.readouterr().out
    text = html_file.read_text(encoding="utf-8")
    parser = Resources()
    parser.feed(text)
    remote = [u for u in parser.urls if u.startswith(("http://", "https://", "//"))]
    assert not remote, remote
    assert "url(http" not in text and "@import" not in text
    assert {"verdict", "unexplained-count", "contents", "heatmap", "documents-table"} <= parser.ids
    assert "cross_entropy" in text and "numpy" in text
    loss_page = Resources()                                         # a loss's page beside it: its detail
    loss_page.feed((results / "report-losses" / "cross_entropy.html").read_text(encoding="utf-8"))
    assert {"cells", "matrix-table", "dtype-support", "accuracy"} <= loss_page.ids
    assert not [u for u in loss_page.urls if u.startswith(("http://", "https://", "//"))]


@pytest.mark.slow
def test_report_out_writes_where_asked(results, tmp_path):
    target = tmp_path / "deep" / "r.html"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(results), "--out", str(target)]) == 0
    assert target.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html>")


def results_dir(tmp_path: Path, meta: dict | str, results_text: str = "") -> Path:
    d = tmp_path / "broken"
    d.mkdir()
    (d / "run.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    (d / "results.jsonl").write_text(results_text)
    return d


FULL_META = {"schema": SCHEMA, "profile": "quick", "seed": 0, "dtypes": ["float64"], "devices": ["cpu"],
             "frameworks": {"numpy": "2"}, "started": "2026-01-01T00:00:00+00:00",
             "machine": {"python": "3.11", "platform": "linux", "processor": "x86_64"}}

GOOD_LINE = json.dumps({"case": "abc", "loss": "l1", "variant": "plain", "reduction": "sum", "origin": "hypothesis",
                        "framework": "numpy", "device": "cpu", "dtype": "float64", "check": "value",
                        "outcome": "agree", "error_eps": 0.0, "detail": ""})


@pytest.mark.parametrize("meta,lines,needle", [
    (FULL_META, GOOD_LINE + '\n{"case": "trunc', "results.jsonl:2"),
    (FULL_META, GOOD_LINE + '\n{"foo": 1}\n', "missing case"),
    ({"schema": SCHEMA, "profile": "quick"}, GOOD_LINE + "\n", "missing seed"),
    ("[1]", "", "must be an object, got a list"),
    ({"schema": SCHEMA + 98, "profile": "quick"}, GOOD_LINE + "\n", f"schema {SCHEMA + 98}"),
    ("{not json", GOOD_LINE + "\n", "run.json"),
], ids=["corrupt_results_line", "a_record_of_another_shape", "run_json_missing_fields", "run_json_a_list",
        "another_schema", "run_json_not_json"])
def test_report_on_a_broken_results_directory_exits_2_with_a_clear_message(tmp_path, capsys, meta, lines, needle):
    d = results_dir(tmp_path, meta, lines)
    assert main(["report", str(d)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err, err
    assert not (d / "report.html").exists()


def test_report_on_a_directory_without_run_json_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "run.json" in capsys.readouterr().err


# ----------------------------------------------------------------------- list

@pytest.mark.slow
def test_list_prints_every_catalog_loss_with_its_variant_count(monkeypatch, capsys):
    # Only numpy: listing every installed framework imports TensorFlow, JAX and torch (~15 s).
    monkeypatch.setattr(frameworks, "names", lambda: ["numpy"])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.split("\n\n")[0].splitlines()[1:]}
    for spec in catalog.catalog().values():
        assert spec.name in rows, spec.name
        assert rows[spec.name][1:] == [str(len(spec.variants)), "composed"]
    assert f"numpy: {len(catalog.catalog())} losses: 0 native" in out


def test_list_with_a_loss_name_prints_each_variants_api(monkeypatch, capsys):
    monkeypatch.setattr(frameworks, "names", lambda: ["numpy"])
    assert main(["list", "nll"]) == 0
    out = capsys.readouterr().out
    headers = [line.strip().split(" / ") for line in out.splitlines() if " / " in line and line.startswith("  ")
               and not line.startswith("   ")]
    shown = {(variant, r) for variant, reductions in headers for r in reductions.split(", ")}
    spec = catalog.get("nll")
    assert shown == {(v, r) for v in spec.variants for r in spec.reductions_of(v)}
    assert "reference.nll in the test dtype" in out


def test_list_with_an_unknown_loss_exits_2(capsys):
    assert main(["list", "nope"]) == 2
    assert "unknown loss 'nope'" in capsys.readouterr().err


def test_run_into_a_path_that_is_a_file_exits_2_without_a_traceback(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["run", "--frameworks", "numpy", "--losses", "l1", "--profile", "quick",
                 "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "a-file" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_searching_profile_writes_the_worst_cases_and_the_report_lists_them(tmp_path):
    out = tmp_path / "searched"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--frameworks", "numpy", "--losses", "mse", "--dtypes", "float32",
                     "--profile", "default", "--out", str(out)]) == 0
        assert main(["report", str(out)]) == 0
    searched = [r for r in jsonl(out / "results.jsonl") if r["origin"] == "search"]
    spec = catalog.get("mse")            # every generated cell is searched: plain and sample-weighted
    assert {(r["variant"], r["reduction"]) for r in searched if "search" in r} == \
        {(v, red) for v in spec.variants for red in spec.reductions_of(v)}
    parser = Resources()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    assert "worst-inputs" in parser.ids


@pytest.mark.parametrize("value", ["-1", "0", "soon"])
def test_a_bad_timeout_exits_2_naming_the_value(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--frameworks", "numpy", "--timeout", value, "--out", str(tmp_path / "r")])
    assert exit_.value.code == 2
    assert f"got {value!r}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


TWO_DEVICE_ADAPTER = """
from adapters.example_user_adapter import HandWrittenNumpy
class TwoDevices(HandWrittenNumpy):
    name = "twodevices"
    def devices(self):
        return ("cpu", "cuda")          # a pretend GPU that computes what the CPU does
ADAPTER = TwoDevices()
"""


@pytest.mark.slow
def test_devices_default_to_the_cpu_and_to_cuda_when_a_framework_sees_a_gpu(tmp_path):
    cpu_only, both = tmp_path / "cpu", tmp_path / "both"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--frameworks", "numpy", "--losses", "mse", "--profile", "quick",
                     "--out", str(cpu_only)]) == 0
        path = tmp_path / "two.py"
        path.write_text(TWO_DEVICE_ADAPTER)
        assert main(["run", "--adapter", str(path), "--losses", "mse", "--profile", "quick", "--isolation", "none",
                     "--out", str(both)]) == 0
    assert json.loads((cpu_only / "run.json").read_text())["devices"] == ["cpu"]
    meta = json.loads((both / "run.json").read_text())
    assert meta["devices"] == ["cpu", "cuda"] and meta["environment"]["twodevices"]["devices"] == ["cpu", "cuda"]
    records = jsonl(both / "results.jsonl")
    assert {r["device"] for r in records} == {"cpu", "cuda"}
    assert not [r for r in records if r["outcome"] == "device-mismatch"]    # the same numbers on both
