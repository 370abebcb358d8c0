"""The bad inputs a demanding user hands the suite, as data: malformed results, cases,
run.json, progress, corpus and baseline files, bad option values and broken user
adapters. Each row says what it is, how to make it, the command and the words the
one message must hold; ``tests/test_bad_inputs.py`` runs every row and
``PYTHONPATH=. python tests/bad_inputs.py`` prints the table of how each one ends."""
from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

Make = Callable[[Path, Path], list[str]]          # (tmp dir, a good results dir) -> argv


@dataclass(frozen=True)
class Bad:
    id: str
    what: str
    make: Make
    expect: str                   # in the one error message
    code: int = 2


ROWS: list[Bad] = []


def bad(id: str, what: str, expect: str, code: int = 2) -> Callable[[Make], Make]:
    def register(make: Make) -> Make:
        ROWS.append(Bad(id, what, make, expect, code))
        return make
    return register


# -- helpers -------------------------------------------------------------------------------
def copy(tmp: Path, good: Path) -> Path:
    out = tmp / "results"
    shutil.copytree(good, out)
    return out


def edit_json(path: Path, change: Callable[[dict], object]) -> None:
    """Change the JSON object in ``path`` in place (what ``change`` returns is ignored)."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_first_line(path: Path, change: Callable[[dict], object]) -> None:
    """Change the first line's object of a JSON Lines file in place."""
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    change(row)
    lines[0] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")


def set_key(key: str, value: object) -> Callable[[dict], None]:
    return lambda row: row.__setitem__(key, value)


def drop_key(key: str) -> Callable[[dict], None]:
    return lambda row: row.pop(key)


def without_progress(out: Path) -> Path:
    """Results read as a whole (progress.jsonl would stop reading before an edited line)."""
    (out / "progress.jsonl").unlink()
    return out


def report(out: Path) -> list[str]:
    return ["report", str(out), "--no-reproducers"]


# -- run.json --------------------------------------------------------------------------------
RUN_REQUIRED = ("schema", "profile", "seed", "dtypes", "devices", "frameworks", "started", "machine")
for key in RUN_REQUIRED:
    bad(f"run.json-missing-{key}", f"run.json without {key}", f"missing {key}" if key != "schema" else "schema None")(
        lambda tmp, good, key=key: report(_edit_run(copy(tmp, good), drop_key(key))))
RUN_WRONG_TYPES = {"profile": 3, "seed": "zero", "dtypes": "float32", "devices": [1], "frameworks": ["numpy"],
                   "started": 20240101, "machine": "x86", "finished": True, "counts": {"numpy:agree": "many"},
                   "losses": "mse", "shard": {"index": "1", "count": 2}, "elapsed_s": "fast", "seed ": None}
for key, value in RUN_WRONG_TYPES.items():
    if key == "seed ":
        continue
    bad(f"run.json-{key}-wrong-type", f"run.json with {key} = {json.dumps(value)}", key)(
        lambda tmp, good, key=key, value=value: report(_edit_run(copy(tmp, good), set_key(key, value))))
bad("run.json-unknown-dtype", "run.json naming dtype float8", 'dtypes[0] must be one of "float64"')(
    lambda tmp, good: report(_edit_run(copy(tmp, good), set_key("dtypes", ["float8"]))))
bad("run.json-other-schema", "run.json of schema 7", "schema 7, this suite reads schema 1")(
    lambda tmp, good: report(_edit_run(copy(tmp, good), set_key("schema", 7))))
bad("run.json-schema-string", "run.json with schema \"1\"", "schema '1'")(
    lambda tmp, good: report(_edit_run(copy(tmp, good), set_key("schema", "1"))))


def _edit_run(out: Path, change: Callable[[dict], object]) -> Path:
    edit_json(out / "run.json", change)
    return out


def _write(out: Path, name: str, data: bytes) -> Path:
    (out / name).write_bytes(data)
    return out


RUN_RAW = {
    "not-json": (b"{profile: quick", "not JSON"),
    "a-list": (b"[1, 2]", "must be an object, got a list"),
    "a-string": (b'"run"', "must be an object"),
    "empty": (b"", "not JSON"),
    "not-utf8": (b'{"schema": 1, "profile": "\xff\xfe"}', "not UTF-8"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "bare-nan": (b'{"schema": 1, "seed": NaN}', "bare NaN"),
    "huge-int": (b'{"schema": 1, "seed": ' + b"9" * 5000 + b"}", "not JSON this suite wrote"),
    "nul-bytes": (b"\x00" * 64, "not JSON"),
}
for name, (data, expect) in RUN_RAW.items():
    bad(f"run.json-{name}", f"run.json that is {name.replace('-', ' ')}", expect)(
        lambda tmp, good, data=data: report(_write(copy(tmp, good), "run.json", data)))
bad("run.json-a-directory", "run.json that is a directory", "holds no run.json")(
    lambda tmp, good: report(_mkdir_run(copy(tmp, good))))


def _mkdir_run(out: Path) -> Path:
    (out / "run.json").unlink()
    (out / "run.json").mkdir()
    return out


# -- results.jsonl ------------------------------------------------------------------------------
RECORD_REQUIRED = ("case", "loss", "variant", "reduction", "origin", "framework", "device", "dtype", "check",
                   "outcome", "detail")
for key in RECORD_REQUIRED:
    bad(f"record-missing-{key}", f"a record without {key}", f"results.jsonl:1: missing {key}")(
        lambda tmp, good, key=key: report(_edit_record(copy(tmp, good), drop_key(key))))
RECORD_WRONG = {"case": 12, "loss": ["mse"], "framework": None, "dtype": "float8", "outcome": "fine",
                "origin": "internet", "check": 1.5, "error_eps": "big", "k": "sixteen", "claimed": "yes",
                "at": [0.5], "finding": 7, "refused": "sideways", "expected": {"dtype": "float64"},
                "actual": [1, 2], "policy_error_eps": {}, "search": "deep", "raised": 404}
for key, value in RECORD_WRONG.items():
    bad(f"record-{key}-{'unknown' if key in ('outcome', 'dtype', 'origin', 'refused') else 'wrong-type'}",
        f"a record with {key} = {json.dumps(value)}", f"results.jsonl:1: {key}")(
        lambda tmp, good, key=key, value=value: report(_edit_record(copy(tmp, good), set_key(key, value))))


def _edit_record(out: Path, change: Callable[[dict], object]) -> Path:
    edit_first_line(without_progress(out) / "results.jsonl", change)
    return out


RESULTS_RAW = {
    "cut-line": (lambda text: text + '{"case": "trunc', "results.jsonl:"),
    "garbage-line": (lambda text: "%%%\n" + text, "results.jsonl:1: not JSON"),
    "a-list-line": (lambda text: "[1, 2, 3]\n" + text, "results.jsonl:1: the value must be an object"),
    "a-number-line": (lambda text: "42\n" + text, "results.jsonl:1: the value must be an object"),
    "deep-line": (lambda text: "[" * 50_000 + "]" * 50_000 + "\n" + text, "results.jsonl:1: JSON nested too deeply"),
    "bare-infinity": (lambda text: text.replace('"error_eps": 0', '"error_eps": Infinity', 1), "bare Infinity"),
}
for name, (change, expect) in RESULTS_RAW.items():
    bad(f"results-{name}", f"results.jsonl with a {name.replace('-', ' ')}", expect)(
        lambda tmp, good, change=change: report(_edit_results_text(copy(tmp, good), change)))


def _edit_results_text(out: Path, change: Callable[[str], str]) -> Path:
    path = without_progress(out) / "results.jsonl"
    path.write_text(change(path.read_text()))
    return out


bad("results-not-utf8", "results.jsonl with bytes that are not UTF-8", "results.jsonl:1: not UTF-8")(
    lambda tmp, good: report(_write(without_progress(copy(tmp, good)), "results.jsonl", b'{"case": "\xff"}\n')))
bad("results-a-directory", "results.jsonl that is a directory", "cannot read")(
    lambda tmp, good: report(_dir_instead(without_progress(copy(tmp, good)), "results.jsonl")))


def _dir_instead(out: Path, name: str) -> Path:
    (out / name).unlink()
    (out / name).mkdir()
    return out


# -- cases.jsonl -------------------------------------------------------------------------------------
CASE_EDITS = {
    "missing-id": (drop_key("id"), "missing id"),
    "missing-arrays": (drop_key("arrays"), "missing arrays"),
    "missing-loss": (drop_key("loss"), "missing loss"),
    "arrays-a-list": (set_key("arrays", [1, 2]), "arrays must be an object"),
    "array-dtype-unknown": (lambda r: r["arrays"]["input"].__setitem__("dtype", "complex128"),
                            'arrays.input.dtype must be one of "int64", "float64"'),
    "array-shape-negative": (lambda r: r["arrays"]["input"].__setitem__("shape", [-3]), "sizes >= 0"),
    "array-shape-a-string": (lambda r: r["arrays"]["input"].__setitem__("shape", "3"), "shape must be a list"),
    "array-too-many-dims": (lambda r: r["arrays"]["input"].update(shape=[1] * 9), "at most 8 sizes"),
    "array-data-short": (lambda r: r["arrays"]["input"].update(shape=[50]), "data values for shape [50]"),
    "array-data-strings": (lambda r: r["arrays"]["input"].update(data=["one"]), "data must be numbers"),
    "array-data-nested": (lambda r: r["arrays"]["input"].update(data=[[1.0]]), "data must be numbers"),
    "array-data-bool": (lambda r: r["arrays"]["input"].update(data=[True]), "data must be numbers"),
    "array-no-data": (lambda r: r["arrays"]["input"].pop("data"), "missing data"),
    "int-array-of-floats": (lambda r: r["arrays"]["input"].update(dtype="int64", data=[1.5]),
                            "data must be integers"),
    "int-array-overflow": (lambda r: r["arrays"]["input"].update(dtype="int64", data=[2 ** 70]), "does not fit int64"),
    "generator-gigabytes": (lambda r: r["arrays"]["input"].update(shape=[200_000, 200_000], generator={
        "kind": "normal", "seed": 1, "scale": 1.0}), "refused rather than allocated"),
    "generator-unknown-kind": (lambda r: r["arrays"]["input"].update(generator={"kind": "zipf", "seed": 1}),
                               "unknown generator kind"),
    "generator-seed-a-string": (lambda r: r["arrays"]["input"].update(generator={"kind": "normal", "seed": "x"}),
                                "generator.seed must be an integer"),
    "params-nested": (set_key("params", {"beta": {"x": 1}}), "params.beta must be a number"),
    "params-a-list": (set_key("params", [1]), "params must be an object"),
    "origin-unknown": (set_key("origin", "folklore"), "origin must be one of"),
    "note-a-number": (set_key("note", 5), "note must be a string"),
}
for name, (change, expect) in CASE_EDITS.items():
    bad(f"case-{name}", f"cases.jsonl: a case with {name.replace('-', ' ')}", expect)(
        lambda tmp, good, change=change: report(_edit_case(copy(tmp, good), change)))


def _edit_case(out: Path, change: Callable[[dict], object]) -> Path:
    edit_first_line(without_progress(out) / "cases.jsonl", change)
    return out


bad("cases-not-utf8", "cases.jsonl with bytes that are not UTF-8", "not UTF-8")(
    lambda tmp, good: report(_write(without_progress(copy(tmp, good)), "cases.jsonl", b'{"id": "\xfe"}\n')))
bad("cases-garbage", "cases.jsonl with a line that is not JSON", "cases.jsonl:1: not JSON")(
    lambda tmp, good: report(_write(without_progress(copy(tmp, good)), "cases.jsonl", b"<html>\n")))

# -- progress.jsonl ----------------------------------------------------------------------------------
bad("progress-garbage", "progress.jsonl with a line that is not JSON", "progress.jsonl:1: not JSON")(
    lambda tmp, good: report(_write(copy(tmp, good), "progress.jsonl", b"nope\n")))
bad("progress-beyond-the-file", "progress.jsonl vouching for more bytes than results.jsonl has",
    "fewer than the")(lambda tmp, good: report(_write(copy(tmp, good), "progress.jsonl",
                                                     b'{"unit": "x", "results": 99999999, "cases": 0}\n')))
bad("progress-wrong-types", "progress.jsonl with a string length", "results must be an integer")(
    lambda tmp, good: report(_write(copy(tmp, good), "progress.jsonl", b'{"unit": "x", "results": "9", "cases": 0}\n')))
bad("resume-onto-a-foreign-directory", "run --resume onto a directory that holds no run", "holds no run.json")(
    lambda tmp, good: ["run", "--frameworks", "numpy", "--losses", "mse", "--profile", "smoke", "--resume",
                       "--out", str(_foreign(tmp))])
bad("resume-without-progress", "run --resume of a run without progress.jsonl (an older version)",
    "no progress.jsonl")(lambda tmp, good: ["run", *_same_options(good), "--resume",
                                           "--out", str(without_progress(copy(tmp, good)))])
bad("resume-other-options", "run --resume with another seed", "cannot resume")(
    lambda tmp, good: ["run", *_same_options(good), "--seed", "3", "--resume", "--out", str(copy(tmp, good))])


def _foreign(tmp: Path) -> Path:
    d = tmp / "foreign"
    d.mkdir()
    (d / "paper.pdf").write_bytes(b"%PDF")
    return d


def _same_options(good: Path) -> list[str]:
    return ["--frameworks", "numpy", "--losses", "mse", "--profile", "smoke", "--isolation", "none"]


# -- the other commands on a malformed results directory ------------------------------------------
for command in ("baseline", "corpus-add", "merge", "gate", "diff", "report-with-reproducers"):
    def argv(tmp: Path, good: Path, command: str = command) -> list[str]:
        out = _edit_record(copy(tmp, good), set_key("outcome", "meh"))
        return {"baseline": ["baseline", str(out), "--out", str(tmp / "b.json")],
                "corpus-add": ["corpus", "add", str(out)],
                "merge": ["merge", str(out), "--out", str(tmp / "m")],
                "gate": ["gate", "--baseline", str(out), str(out)],
                "diff": ["diff", str(out), str(good)],
                "report-with-reproducers": ["report", str(out)]}[command]
    bad(f"{command}-on-a-bad-record", f"{command.replace('-', ' ')} of results with an unknown outcome",
        'outcome must be one of "agree"')(argv)

# -- baselines ----------------------------------------------------------------------------------------
CELL = {"loss": "mse", "variant": "plain", "reduction": "mean", "framework": "numpy", "device": "cpu",
        "dtype": "float32", "check": "value", "outcomes": {"agree": 1}, "worst_error_eps": 0.5}


def _baseline(tmp: Path, good: Path, data: bytes, gz: bool = False) -> list[str]:
    path = tmp / ("baseline.json.gz" if gz else "baseline.json")
    path.write_bytes(data)
    return ["gate", "--baseline", str(path), str(good)]


def _cells(*cells: dict, **header: object) -> bytes:
    return json.dumps({"schema": "loss-conformance-baseline/1", **header, "cells": list(cells)}).encode()


BASELINES = {
    "not-json": (b"{cells", False, "not JSON"),
    "not-utf8": (b"\xff\xfe\x00{", False, "not UTF-8"),
    "empty": (b"", False, "not JSON"),
    "a-list": (b"[1]", False, "schema 'list'"),
    "other-schema": (b'{"schema": "loss-conformance-baseline/9", "cells": []}', False, "expected 'loss-conformance"),
    "no-cells": (_cells(), False, "has no cells"),
    "cells-not-a-list": (b'{"schema": "loss-conformance-baseline/1", "cells": {"a": 1}}', False, "cells must be a list"),
    "cell-a-string": (_cells("mse"), False, "cells[0] must be an object"),
    "cell-missing-check": (_cells({k: v for k, v in CELL.items() if k != "check"}), False, "cell 0: missing check"),
    "cell-count-a-string": (_cells({**CELL, "outcomes": {"agree": "1"}}), False, "outcomes.agree must be an integer"),
    "cell-unknown-outcome": (_cells({**CELL, "outcomes": {"fine": 1}}), False, "unknown outcome fine"),
    "cell-negative-count": (_cells({**CELL, "outcomes": {"agree": -4}}), False, "must be >= 0"),
    "cell-negative-error": (_cells({**CELL, "worst_error_eps": -1.0}), False, "must be >= 0"),
    "cell-error-a-string": (_cells({**CELL, "worst_error_eps": "tiny"}), False, "worst_error_eps must be a number"),
    "cell-loss-a-number": (_cells({**CELL, "loss": 3}), False, "loss must be null or a string"),
    "frameworks-a-list": (_cells(CELL, frameworks=["numpy"]), False, "frameworks must be an object"),
    "seed-a-string": (_cells(CELL, seed="0"), False, "seed must be null or an integer"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, False, "nested too deeply"),
    "bare-nan": (_cells(CELL).replace(b"0.5", b"NaN"), False, "bare NaN"),
    "gzip-corrupt-body": (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"garbage" * 20, True, "not a readable gzip"),
    "gzip-truncated": (gzip.compress(_cells(CELL) * 3)[:40], True, "not a readable gzip"),
    "gzip-of-garbage": (gzip.compress(b"\x00\x01 not json"), True, "not JSON"),
}
for name, (data, gz, expect) in BASELINES.items():
    bad(f"baseline-{name}", f"a baseline that is {name.replace('-', ' ')}", expect)(
        lambda tmp, good, data=data, gz=gz: _baseline(tmp, good, data, gz))
bad("baseline-missing", "a baseline file that does not exist", "does not exist")(
    lambda tmp, good: ["gate", "--baseline", str(tmp / "none.json"), str(good)])
bad("baseline-a-directory", "a baseline that is a directory, not a run", "holds no run.json")(
    lambda tmp, good: ["gate", "--baseline", str(tmp), str(good)])

# -- the replay corpus (CONFORMANCE_CORPUS_DIR points the run at a directory of these) ----------
GOOD_CASE = {"loss": "mse", "variant": "plain", "reduction": "mean", "origin": "corpus", "note": "", "params": {},
             "arrays": {"input": {"dtype": "float64", "shape": [2], "data": [1.0, 2.0]},
                        "target": {"dtype": "float64", "shape": [2], "data": [0.0, 1.0]}}}
HEADER = {"corpus_format": 1, "loss": "mse"}


def _corpus_file(lines: list[object]) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def _case(**change: object) -> dict:
    case = json.loads(json.dumps(GOOD_CASE))
    for key, value in change.items():
        if value is None:
            case.pop(key)
        else:
            case[key] = value
    return case


CORPORA = {
    "other-format": ([{"corpus_format": 3, "loss": "mse"}, GOOD_CASE], "corpus format 3"),
    "no-header": ([GOOD_CASE], "mse.jsonl:1: missing corpus_format"),
    "header-format-a-string": ([{"corpus_format": "1"}, GOOD_CASE], "corpus_format must be an integer"),
    "case-of-another-loss": ([HEADER, _case(loss="l1")], "mse.jsonl:2: a case of 'l1' in the corpus of 'mse'"),
    "case-missing-an-array": ([HEADER, _case(arrays={"input": GOOD_CASE["arrays"]["input"]})],
                              "mse.jsonl:2: not a case of mse: it has no target array"),
    "case-with-a-foreign-array": ([HEADER, _case(arrays={**GOOD_CASE["arrays"], "weight": GOOD_CASE["arrays"]["input"]})],
                                  "mse takes no weight array"),
    "case-with-an-unknown-parameter": ([HEADER, _case(params={"delta": 1.0})], "mse has no parameter delta"),
    "case-with-an-unknown-variant": ([HEADER, _case(variant="fancy")], "mse has no variant 'fancy'"),
    "case-with-an-unknown-reduction": ([HEADER, _case(reduction="median")], "mse has no reduction 'median'"),
    "case-missing-its-reduction": ([HEADER, _case(reduction=None)], "mse.jsonl:2: missing reduction"),
    "case-with-a-short-array": ([HEADER, _case(arrays={**GOOD_CASE["arrays"], "target": {
        "dtype": "float64", "shape": [3], "data": [1.0]}})], "1 data values for shape [3]"),
    "case-not-json": ([HEADER, "{loss: mse"], "mse.jsonl:2: not JSON"),
    "case-a-list": ([HEADER, [1, 2]], "mse.jsonl:2: the value must be an object"),
    "case-deeply-nested": ([HEADER, "[" * 60_000 + "]" * 60_000], "nested too deeply"),
}
for name, (lines, expect) in CORPORA.items():
    bad(f"corpus-{name}", f"a corpus file with {name.replace('-', ' ')}", expect)(
        lambda tmp, good, lines=lines: _with_corpus(tmp, _corpus_file(lines)))
bad("corpus-not-utf8", "a corpus file that is not UTF-8", "not UTF-8")(
    lambda tmp, good: _with_corpus(tmp, b'{"corpus_format": 1}\n\xff\xfe\n'))


def _with_corpus(tmp: Path, data: bytes) -> list[str]:
    directory = tmp / "corpus"
    directory.mkdir()
    (directory / "mse.jsonl").write_bytes(data)
    return ["run", "--frameworks", "numpy", "--losses", "mse", "--profile", "smoke", "--isolation", "none",
            "--corpus", str(directory), "--out", str(tmp / "out")]


# -- option values ------------------------------------------------------------------------------------
def _run(*options: str) -> Make:
    return lambda tmp, good: ["run", "--frameworks", "numpy", "--losses", "mse", "--profile", "smoke", *options,
                              "--out", str(tmp / "out")]


OPTIONS = {
    "timeout-inf": (("--timeout", "inf"), "at most 86400"),
    "timeout-nan": (("--timeout", "nan"), "at most 86400"),
    "timeout-1e12": (("--timeout", "1e12"), "at most 86400"),
    "timeout-zero": (("--timeout", "0"), "above 0"),
    "timeout-negative": (("--timeout", "-5"), "above 0"),
    "timeout-words": (("--timeout", "soon"), "expected a number of seconds"),
    "seed-words": (("--seed", "lucky"), "invalid int value"),
    "seed-float": (("--seed", "1.5"), "invalid int value"),
    "loss-unknown": (("--losses", "mse,kl"), "unknown loss 'kl'"),
    "losses-empty": (("--losses", ","), "unknown loss (empty)"),
    "framework-unknown": (("--frameworks", "mxnet"), "unknown framework 'mxnet'"),
    "dtype-unknown": (("--dtypes", "float8_e4m3"), "unknown dtype 'float8_e4m3'"),
    "dtype-empty": (("--dtypes", ""), "unknown dtype (empty)"),
    "device-unknown": (("--devices", "tpu"), "unknown device 'tpu'"),
    "profile-unknown": (("--profile", "enormous"), "unknown profile 'enormous'"),
    "shard-zero": (("--shard", "0/4"), "--shard expects K/N"),
    "shard-beyond": (("--shard", "5/4"), "--shard expects K/N"),
    "shard-words": (("--shard", "half"), "--shard expects K/N"),
    "isolation-unknown": (("--isolation", "thread"), "invalid choice: 'thread'"),
    "resume-and-force": (("--resume", "--force"), "give one of them"),
    "adapter-missing-file": (("--adapter", "nowhere/mine.py"), "does not exist"),
    "adapter-bad-spec": (("--adapter", ":"), "bad --adapter"),
    "adapter-missing-module": (("--adapter", "no_such_module_xyz:ADAPTER"), "failed to import"),
    "corpus-not-a-directory": (("--corpus", "/dev/null/x"), "not a directory"),
}
for name, (options, expect) in OPTIONS.items():
    bad(f"run-{name}", f"run {' '.join(options)}", expect)(_run(*options))
bad("run-out-is-a-file", "run --out onto a file", "is a file, not a directory")(
    lambda tmp, good: _run()(tmp, good)[:-1] + [str(_file(tmp))])
bad("run-out-holds-a-run", "run --out onto a directory that holds another run", "already holds a run")(
    lambda tmp, good: _run()(tmp, good)[:-1] + [str(copy(tmp, good))])
bad("run-out-holds-other-files", "run --out onto a directory of other files", "is not empty")(
    lambda tmp, good: _run()(tmp, good)[:-1] + [str(_foreign(tmp))])


def _file(tmp: Path) -> Path:
    path = tmp / "a-file"
    path.write_text("x")
    return path


GATE = {
    "factor-nan": (("--factor", "nan"), "finite number above 1"),
    "factor-inf": (("--factor", "inf"), "finite number above 1"),
    "factor-zero": (("--factor", "0"), "finite number above 1"),
    "factor-one": (("--factor", "1"), "finite number above 1"),
    "factor-negative": (("--factor", "-2"), "finite number above 1"),
    "factor-words": (("--factor", "double"), "expected a number above 1"),
    "limit-negative": (("--limit", "-1"), "whole number >= 0"),
    "limit-float": (("--limit", "2.5"), "expected a whole number"),
}
for name, (options, expect) in GATE.items():
    bad(f"gate-{name}", f"gate {' '.join(options)}", expect)(
        lambda tmp, good, options=options: ["gate", "--baseline", str(good), *options, str(good)])
bad("gate-results-not-a-run", "gate on a directory that is not a run", "not a results directory")(
    lambda tmp, good: ["gate", "--baseline", str(good), str(tmp)])


def _blocked_output(tmp: Path, good: Path, option: str, where: str) -> list[str]:
    """``gate --markdown/--junit/--json`` to a path that cannot be a file: under a file, or a directory."""
    (tmp / "a-file").write_text("x")
    (tmp / "a-directory").mkdir()
    path = tmp / "a-file" / "gate.out" if where == "under-a-file" else tmp / "a-directory"
    return ["gate", "--baseline", str(good), str(good), f"--{option}", str(path)]


for option, what in (("markdown", "Markdown summary"), ("junit", "JUnit XML"), ("json", "JSON")):
    for where in ("under-a-file", "a-directory"):
        bad(f"gate-{option}-{where}", f"gate --{option} to a path {where.replace('-', ' ')}",
            f"could not write the {what} (--{option})")(
            lambda tmp, good, option=option, where=where: _blocked_output(tmp, good, option, where))
for name, options, expect in (("repeat-zero", ("--repeat", "0"), "whole number >= 1"),
                              ("repeat-negative", ("--repeat", "-3"), "whole number >= 1"),
                              ("repeat-words", ("--repeat", "many"), "expected a whole number"),
                              ("dtype-unknown", ("--dtype", "float8"), "unknown dtype 'float8'"),
                              ("framework-unknown", ("--frameworks", "caffe"), "unknown framework 'caffe'")):
    bad(f"bench-{name}", f"bench {' '.join(options)}", expect)(lambda tmp, good, options=options: ["bench", *options])
OTHERS = {
    "report-of-nothing": (lambda tmp, good: ["report", str(tmp / "nothing")], "holds no run.json"),
    "report-of-a-file": (lambda tmp, good: ["report", str(_file(tmp))], "holds no run.json"),
    "list-unknown-loss": (lambda tmp, good: ["list", "focal"], "unknown loss 'focal'"),
    "corpus-add-without-results": (lambda tmp, good: ["corpus", "add"], "corpus add needs a results directory"),
    "corpus-unknown-action": (lambda tmp, good: ["corpus", "drop"], "invalid choice: 'drop'"),
    "diff-of-nothing": (lambda tmp, good: ["diff", str(tmp / "a"), str(good)], "does not exist (expected a results"),
    "merge-of-nothing": (lambda tmp, good: ["merge", str(tmp / "none"), "--out", str(tmp / "m")], "holds no run.json"),
    "merge-into-its-shard": (lambda tmp, good: ["merge", str(good), "--out", str(good)], "is one of the shards"),
    "merge-an-unsharded-run": (lambda tmp, good: ["merge", str(good), "--out", str(tmp / "m")],
                               "not written with --shard"),
    "unknown-command": (lambda tmp, good: ["explode"], "invalid choice: 'explode'"),
}
for name, (make, expect) in OTHERS.items():
    bad(name, name.replace("-", " "), expect)(make)

# -- pytest options (usage errors: pytest exits 4) ------------------------------------------------
PYTEST = {"losses": "nope", "frameworks": "mxnet", "dtypes": "float8", "profile": "enormous", "devices": "tpu",
          "adapter": "nowhere.py"}
for option, value in PYTEST.items():
    bad(f"pytest-{option}", f"pytest conformance --{option} {value}",
        "unknown" if option != "adapter" else "does not exist", code=4)(
        lambda tmp, good, option=option, value=value: ["pytest", "conformance", f"--{option}", value])

# -- user adapters -----------------------------------------------------------------------------------
BASE = "from adapters.example_user_adapter import HandWrittenNumpy\n"
ADAPTERS = {
    "segfaults-on-import": ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
                            "crashed the process that loaded it (killed by SIGSEGV)"),
    "hangs-on-import": ("import time\ntime.sleep(3600)\n", "did not finish loading within 3 s"),
    "exits-on-import": ("import sys\nsys.exit(3)\n", "failed to import: SystemExit: 3"),
    "raises-on-import": ("raise RuntimeError('no licence')\n", "failed to import: RuntimeError: no licence"),
    "segfaults-in-version": (BASE + "import os, signal\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                             "    def version(self):\n        os.kill(os.getpid(), signal.SIGSEGV)\nADAPTER = A()\n",
                             "killed by SIGSEGV"),
    "hangs-in-version": (BASE + "import time\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                         "    def version(self):\n        time.sleep(3600)\nADAPTER = A()\n", "within 3 s"),
    "hangs-in-devices": (BASE + "import time\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                         "    def devices(self):\n        time.sleep(3600)\nADAPTER = A()\n", "within 3 s"),
    "version-a-number": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    def version(self):\n"
                         "        return 2\nADAPTER = A()\n", "version() must return a string, got int"),
    "devices-a-string": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    def devices(self):\n"
                         "        return 'cpu'\nADAPTER = A()\n", "devices() must return a non-empty tuple"),
    "devices-unknown": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    def devices(self):\n"
                        "        return ('tpu',)\nADAPTER = A()\n", "devices() must return a non-empty tuple"),
    "devices-empty": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    def devices(self):\n"
                      "        return ()\nADAPTER = A()\n", "devices() must return a non-empty tuple"),
    "recipes-a-list": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    recipes = ['mse']\nADAPTER = A()\n",
                       "no recipes"),
    "recipe-a-function": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    recipes = {'mse': print}\n"
                          "ADAPTER = A()\n", "recipes['mse'] is a builtin_function_or_method, not an adapters.base.Recipe"),
    "recipe-fn-not-callable": (BASE + "from adapters.base import Recipe\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                               "    recipes = {'mse': Recipe(3, 'x')}\nADAPTER = A()\n", "has fn int, not a function"),
    "recipe-api-a-number": (BASE + "from adapters.base import Recipe\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                            "    recipes = {'mse': Recipe(print, 7)}\nADAPTER = A()\n", "has api int"),
    "recipe-kind-unknown": (BASE + "from adapters.base import Recipe\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                            "    recipes = {'mse': Recipe(print, 'x', kind='magic')}\nADAPTER = A()\n",
                            "has kind 'magic'"),
    "recipe-dtypes-unknown": (BASE + "from adapters.base import Recipe\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                              "    recipes = {'mse': Recipe(print, 'x', dtypes=('float8',))}\nADAPTER = A()\n",
                              "has dtypes ('float8',)"),
    "recipe-unknown-loss": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n"
                            "    recipes = {'msee': HandWrittenNumpy.recipes['mse']}\nADAPTER = A()\n",
                            "recipes for unknown losses 'msee'"),
    "policies-a-list": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    policies_by_loss = ['clip']\n"
                        "ADAPTER = A()\n", "policies_by_loss must be a dict"),
    "workers-zero": (BASE + "class A(HandWrittenNumpy):\n    name = 'a'\n    workers = 0\nADAPTER = A()\n",
                     "workers must be an integer from 1 to 16"),
    "name-of-a-builtin": (BASE + "class A(HandWrittenNumpy):\n    name = 'torch'\nADAPTER = A()\n",
                          "name 'torch' is a built-in framework"),
    "name-not-an-identifier": (BASE + "class A(HandWrittenNumpy):\n    name = 'my adapter'\nADAPTER = A()\n",
                               "needs a 'name' (an identifier)"),
    "not-an-adapter": ("ADAPTER = 42\n", "is a int, not a FrameworkAdapter"),
    "no-attribute": ("X = 1\n", "has no attribute 'ADAPTER'"),
}
RETURNS = {
    "run-returns-none": ("return None", "it returned NoneType, not adapters.base.Output"),
    "run-returns-a-string": ("return 'a loss'", "it returned str"),
    "run-returns-an-object-array": ("return Output(np.array([object()]), {n: np.zeros(1) for n in wrt})",
                                    "the value is an array of object, not of real numbers"),
    "run-returns-complex": ("return Output(np.array(1 + 2j), {n: np.zeros(1) for n in wrt})", "the value is complex"),
    "run-returns-a-string-value": ("return Output('0.5', {})", "the value is str"),
    "run-returns-no-gradient": ("return Output(np.float64(1.0), {})", "it returned no gradient for 'input'"),
    "run-returns-grads-a-list": ("return Output(np.float64(1.0), [1.0])", "its grads are a list"),
    "run-returns-a-complex-gradient": ("return Output(np.float64(1.0), {n: np.ones(2) * 1j for n in wrt})",
                                       "the gradient of 'input' is complex"),
    "unsupported-raises": (None, "the mse recipe's support (unsupported or kind) raised ZeroDivisionError"),
}
for name, (body, expect) in RETURNS.items():
    if body is None:
        source = (BASE + "from adapters.base import Recipe\nclass A(HandWrittenNumpy):\n    name = 'a'\n"
                  "    recipes = {'mse': Recipe(HandWrittenNumpy.recipes['mse'].fn, 'x', unsupported=lambda c: 1 / 0)}\n"
                  "ADAPTER = A()\n")
    else:
        source = (BASE + "import numpy as np\nfrom adapters.base import Output\nclass A(HandWrittenNumpy):\n"
                  f"    name = 'a'\n    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt):\n"
                  f"        {body}\nADAPTER = A()\n")
    ADAPTERS[name] = (source, expect)
for name, (source, expect) in ADAPTERS.items():
    bad(f"adapter-{name}", f"a user adapter that {name.replace('-', ' ')}", expect)(
        lambda tmp, good, source=source: _adapter_run(tmp, source))


def _adapter_run(tmp: Path, source: str) -> list[str]:
    path = tmp / "my_adapter.py"
    path.write_text(source)
    return ["run", "--adapter", str(path), "--losses", "mse", "--profile", "smoke", "--timeout", "3",
            "--out", str(tmp / "out")]


if __name__ == "__main__":       # the table of the note: PYTHONPATH=. python tests/bad_inputs.py
    print(f"{len(ROWS)} bad inputs")
    for row in ROWS:
        print(f"| {row.id} | {row.what} | exit {row.code}: {row.expect} |")
