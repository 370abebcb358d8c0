"""The report's verdict in ten seconds: the kind of input each check ran on, the
heat-map's wrong-or-fragile verdict with its failing share, the unexplained count and
the composed mark, the first screen's counts per framework and what changed since a
baseline, and the loss pages every cell links to. Records come from the engine itself
(fake adapters broken on purpose, tests/fakes.py), so the words the classifier relies
on are the engine's own."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import re

import numpy as np
import pytest

from conformance.cli import main
from conformance.engine import check
from conformance.vocab.records import Record
from fakes import Fake, case, correct, exact
from reports import failure_groups, first_screen, gate, heatmap, html, input_kinds, summary
from reports.frame import records_frame, shown_by_mode

META = {"profile": "quick", "seed": 0, "dtypes": ["float32"], "devices": ["cpu"],
        "frameworks": {"fake": "0.0-test"}, "started": "2026-01-01T00:00:00+00:00",
        "machine": {"python": "3.11", "platform": "linux"}}

MSE = case("mse", {"input": [1.0, 2.0, -0.5], "target": [0.5, -1.0, 0.25]})
MSE_INF = case("mse", {"input": [1.0, math.inf], "target": [0.5, 0.0]})
MSE_EMPTY = case("mse", {"input": np.zeros((0,)), "target": np.zeros((0,))})
CE_OUT_OF_RANGE = case("cross_entropy", {"input": [[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]], "target": np.array([0, 5])})


def clip_classes(arrays):          # computes on an out-of-range class index instead of refusing
    arrays["target"] = np.clip(arrays["target"], 0, np.shape(arrays["input"])[1] - 1)
    return arrays


def off(value, grads):             # a value off by a relative 1e-3: wrong on any input
    return value * (1 + 1e-3), grads


def nan_value(value, grads):
    return np.full_like(value, np.nan), grads


def run(adapter, *cases, name="fake"):
    records = [dataclasses.replace(r, framework=name) for c in cases for r in check(c, adapter, "cpu", "float32")]
    return records, {c.id: c for c in cases}


# ------------------------------------------------------------ the kind of input

def test_each_case_is_classified_by_its_own_arrays():
    assert input_kinds.of_case(MSE) == "ordinary"
    assert input_kinds.of_case(MSE_INF) == "non-finite"
    assert input_kinds.of_case(case("mse", {"input": [math.nan], "target": [0.0]})) == "non-finite"
    assert input_kinds.of_case(MSE_EMPTY) == "empty"
    huge = case("cross_entropy", {"input": [[1e30, -1e30]], "target": np.array([0])})
    assert input_kinds.of_case(huge) == "ordinary"            # finite, however large


def test_an_input_the_oracle_refuses_is_invalid_in_every_verdict_the_engine_gives_it():
    returns, cases = run(Fake({"cross_entropy": exact("cross_entropy", before=clip_classes)}), CE_OUT_OF_RANGE)
    refuses, _ = run(correct("cross_entropy"), CE_OUT_OF_RANGE)
    value = {r.outcome for r in returns + refuses if r.check == "value"}
    assert value == {"error-mismatch", "agree"}
    for r in returns + refuses:
        if r.check == "value":
            assert input_kinds.of_record(r, input_kinds.of_case(cases[r.case])) == "invalid", r.detail
    wrong, cases = run(Fake({"mse": exact("mse", after=off)}), MSE)
    assert {input_kinds.of_records(wrong, cases)[0]} == {"ordinary"}


# -------------------------------------------------------------- the heat-map

def cells_of(records, cases):
    return heatmap.cells(records_frame(META, records, cases))


def test_a_cell_failing_on_an_ordinary_input_is_wrong_one_failing_only_on_special_inputs_fragile():
    wrong = Fake({"mse": exact("mse", after=off)})
    fragile = Fake({"mse": exact("mse", after=nan_value),
                    "cross_entropy": exact("cross_entropy", before=clip_classes)})
    records, cases = run(wrong, MSE, MSE_INF)
    more, more_cases = run(fragile, MSE_INF, CE_OUT_OF_RANGE, name="other")
    cells = cells_of(records + more, {**cases, **more_cases})
    assert cells[("mse", "cpu", "float32", "fake")].verdict == "wrong"
    other_mse = cells[("mse", "cpu", "float32", "other")]
    other_ce = cells[("cross_entropy", "cpu", "float32", "other")]
    # NaN on an infinite input and a value for an out-of-range class: failures, but on special inputs only
    assert other_mse.failing and not other_mse.failing_ordinary and other_mse.verdict == "fragile"
    assert other_ce.failing and other_ce.verdict == "fragile"


def test_the_same_failures_without_the_cases_count_as_ordinary():
    """Without the cases nothing says an input was non-finite: the verdict is the worse one."""
    records, _ = run(Fake({"mse": exact("mse", after=nan_value)}), MSE_INF)
    assert heatmap.cells(records_frame(META, records))[("mse", "cpu", "float32", "fake")].verdict == "wrong"


def test_a_cells_share_counts_its_failing_checks_among_those_it_ran_and_its_unexplained_ones():
    records, cases = run(Fake({"mse": exact("mse", after=off)}), MSE, MSE_INF)
    failing = [r for r in records if r.outcome in ("mismatch", "nonfinite-mismatch")]
    assert failing
    explained = dataclasses.replace(failing[0], finding="a-known-one")
    records = [explained if r is failing[0] else r for r in records]
    records.append(dataclasses.replace(records[0], outcome="unsupported", check="grad:other"))
    cell = cells_of(records, cases)[("mse", "cpu", "float32", "fake")]
    ran = len(records) - 1
    assert (cell.checks, cell.failing, cell.unexplained) == (ran, len(failing), len(failing) - 1)
    assert cell.share == pytest.approx(len(failing) / ran)
    assert cell.label == f"{100 * len(failing) / ran:.0f}%"


def test_a_cell_is_marked_composed_only_when_none_of_its_checks_calls_the_frameworks_api():
    records, cases = run(correct("mse"), MSE, MSE_INF)
    native = [dataclasses.replace(r, support="native") for r in records]
    composed = [dataclasses.replace(r, support="composed") for r in records]
    mixed = native[:1] + composed[1:]
    for given, mark in ((native, False), (composed, True), (mixed, False)):
        assert cells_of(given, cases)[("mse", "cpu", "float32", "fake")].composed is mark


def test_the_modes_have_their_own_table_and_a_mode_no_loss_offers_is_left_out_and_named():
    records, cases = run(correct("mse"), MSE)
    compiled = [dataclasses.replace(r, mode="compiled") for r in records]
    graph = [dataclasses.replace(r, mode="graph", outcome="unsupported") for r in records]
    frame = records_frame(META, shown_by_mode(records + compiled + graph), cases)
    tables = {t["id"]: t for t in heatmap.tables(frame)}
    assert list(tables) == ["heatmap-plain", "heatmap-modes"]
    modes = tables["heatmap-modes"]
    assert [key for g in modes["groups"] for key, _ in g["columns"]] == ["fake-compiled"]
    assert modes["left_out"] == ["fake-graph (cpu · float32 · fake)"]


def test_column_groups_are_cut_into_tables_that_fit_the_page():
    groups = [{"columns": [("a", "a")] * n} for n in (4, 4, 4, 4, 3, 20)]
    assert [[len(g["columns"]) for g in s] for s in heatmap.sections(groups, width=16)] == [[4, 4, 4, 4], [3], [20]]


# ----------------------------------------------------------- the first screen

def test_the_first_screen_counts_each_framework_with_its_modes_and_per_dtype():
    records, cases = run(Fake({"mse": exact("mse", after=nan_value)}), MSE, MSE_INF)
    compiled = [dataclasses.replace(r, mode="compiled") for r in records]
    frame = records_frame(META, shown_by_mode(records + compiled), cases)
    screen = first_screen.by_framework(frame)
    failing = sum(r.outcome in ("mismatch", "nonfinite-mismatch") for r in records)
    assert [row["framework"] for row in screen["rows"]] == ["fake"]
    row = screen["rows"][0]
    assert (row["checks"], row["failing"], row["unexplained"], row["explained"]) == \
        (2 * len(records), 2 * failing, 2 * failing, 0)
    assert row["ordinary"] + row["special"] == row["failing"] and row["special"] > 0 and row["ordinary"] > 0
    assert row["dtypes"]["float32"]["unexplained"] == 2 * failing
    assert screen["total"] == {k: row[k] for k in first_screen.COUNTS}


@pytest.mark.slow
def test_the_unexplained_count_is_the_first_thing_the_report_says():
    records, cases = run(Fake({"mse": exact("mse", after=off)}), MSE)
    unexplained = sum(r.outcome == "mismatch" for r in records)
    page = html.render(META, records, cases)
    headline = page[page.index('id="unexplained-count"'):]
    headline = re.sub(r"<[^>]+>", "", headline[:headline.index("</p>")])
    assert f"{unexplained} unexplained" in headline
    assert page.index('id="unexplained-count"') < page.index('id="contents"') < page.index('id="heatmap"')
    calm = html.render(META, run(correct("mse"), MSE)[0], cases)
    assert "0 unexplained" in calm and 'class="news"' not in calm


@pytest.mark.slow
def test_given_a_baseline_the_first_screen_says_what_changed(tmp_path):
    good, cases = run(correct("mse"), MSE)
    bad, _ = run(Fake({"mse": exact("mse", after=off)}), MSE)
    gate.write_baseline(tmp_path / "base.json.gz", gate.baseline(good, META))
    base = {**gate.load_baseline(tmp_path / "base.json.gz"), "path": "base.json.gz"}
    since = first_screen.since(base, bad)
    assert since["regression"]["cells"] >= 1 and since["improvement"]["cells"] == 0
    assert since["regression"]["groups"] == len(since["regression"]["lines"]) >= 1
    page = html.render(META, bad, cases, baseline=base)
    assert 'id="since-baseline"' in page and f"{since['regression']['cells']} regression" in page
    assert page.index('id="since-baseline"') < page.index('id="heatmap"')
    assert since["regression"]["lines"][0] in page.replace("&#39;", "'").replace("&gt;", ">")
    assert first_screen.since(base, good)["regression"]["cells"] == 0
    assert first_screen.since(None, bad) is None and 'id="since-baseline"' not in html.render(META, bad, cases)


# --------------------------------------------------------------- the loss pages

def test_an_agreeing_cell_prints_no_arrays_and_a_failing_one_its_worst_example_with_the_relative_error():
    records, cases = run(correct("mse"), MSE)
    wrong, _ = run(Fake({"mse": exact("mse", after=off)}), MSE, name="other")
    page = html.render_all(META, records + wrong, cases)["report-losses/mse.html"]
    agreeing = page[page.index('id="cell-fake-cpu-float32"'):page.index('id="cell-other-cpu-float32"')]
    assert "<pre>" not in agreeing and "Worst error" in agreeing
    failing = page[page.index('id="cell-other-cpu-float32"'):]
    assert "<pre>" in failing and "relative 0.001" in failing


@pytest.mark.parametrize("expected,actual,at,text", [
    ([2.0], [2.002], None, "0.001"), ([1.0, 4.0], [1.0, 5.0], (1,), "0.25"), ([0.0], [1e-9], None, "∞"),
    ([3.0], [3.0], None, "0"), ([1.0], ["nan"], None, "∞ (NaN)"), ([1.0, 2.0], [1.0, 3.0], None, ""),
])
def test_the_relative_error_is_taken_at_the_worst_element(expected, actual, at, text):
    shape = [len(expected)] if len(expected) > 1 else []
    r = Record("c", "mse", "plain", "mean", "hypothesis", "fake", "cpu", "float32", "value", "mismatch",
               expected={"dtype": "float64", "shape": shape, "data": expected},
               actual={"dtype": "float64", "shape": shape, "data": actual}, at=at)
    assert summary.relative_error(r) == text


def write(tmp_path, records, cases, name="report.html"):
    out = tmp_path / name
    html.write_report(META, records, cases, out)
    return out


@pytest.mark.slow
def test_the_loss_pages_go_beside_the_report_and_a_stale_one_is_removed(tmp_path):
    mse, cases = run(correct("mse"), MSE)
    ce, ce_cases = run(correct("cross_entropy"), CE_OUT_OF_RANGE)
    write(tmp_path, mse + ce, {**cases, **ce_cases})
    assert {p.name for p in (tmp_path / "report-losses").glob("*.html")} == {"mse.html", "cross_entropy.html"}
    write(tmp_path, mse, cases)
    assert {p.name for p in (tmp_path / "report-losses").glob("*.html")} == {"mse.html"}
    write(tmp_path, mse, cases, name="other.html")                  # another report, its own folder
    assert (tmp_path / "other-losses" / "mse.html").is_file() and (tmp_path / "report-losses" / "mse.html").is_file()


def test_a_folder_of_someone_elses_files_where_the_loss_pages_go_is_left_alone(tmp_path):
    (tmp_path / "report-losses").mkdir()
    (tmp_path / "report-losses" / "mine.html").write_text("keep me")
    records, cases = run(correct("mse"), MSE)
    with pytest.raises(FileExistsError, match="did not write"):
        write(tmp_path, records, cases)
    assert (tmp_path / "report-losses" / "mine.html").read_text() == "keep me"


def test_report_with_an_unreadable_baseline_says_so_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "--frameworks", "numpy", "--losses", "mse", "--profile", "smoke", "--isolation", "none",
                     "--out", str(out)]) == 0
    before = sorted(p.name for p in out.iterdir())
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["report", str(out), "--baseline", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and err.count("\n") <= 2 and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == before
    base = tmp_path / "base.json.gz"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["baseline", str(out), "--out", str(base)]) == 0
        assert main(["report", str(out), "--baseline", str(base), "--no-reproducers"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="since-baseline"' in page and "no regression" in page


def test_a_wrong_cell_shows_its_failure_on_an_ordinary_input_first():
    """A value for an out-of-range class fails more severely (error-mismatch) than a value
    off by 1e-3 (mismatch), but the latter is what makes the cell wrong: it comes first."""
    both = Fake({"cross_entropy": exact("cross_entropy", before=clip_classes, after=off)})
    ordinary = case("cross_entropy", {"input": [[0.5, -1.0, 2.0]], "target": np.array([2])})
    records, cases = run(both, CE_OUT_OF_RANGE, ordinary)
    frame = records_frame(META, records, cases)
    key = ("cross_entropy", "cpu", "float32", "fake")
    cell = heatmap.cells(frame)[key]
    assert cell.verdict == "wrong" and cell.outcome == "error-mismatch"
    assert records[cell.worst_record].outcome == "mismatch" and records[cell.worst_record].case == ordinary.id
    groups = failure_groups.by_cell(frame)[key]
    assert groups[0]["inputs"] == "ordinary" and groups[-1]["inputs"] == "invalid"


def test_a_baseline_of_the_same_run_with_modes_shows_no_change(tmp_path):
    """The report names a mode's column torch-compiled; the gate keys on framework and
    mode: what changed since a baseline of the very same records is nothing."""
    records, cases = run(Fake({"mse": exact("mse", after=off)}), MSE)
    records += [dataclasses.replace(r, mode="compiled") for r in records]
    gate.write_baseline(tmp_path / "base.json.gz", gate.baseline(records, META))
    base = {**gate.load_baseline(tmp_path / "base.json.gz"), "path": "base.json.gz"}
    since = first_screen.since(base, shown_by_mode(records))
    assert [since[s]["cells"] for s in ("regression", "warning", "improvement")] == [0, 0, 0]


def test_a_loss_page_shows_the_llm_scale_cases_by_size():
    big = case("cross_entropy", {"input": np.zeros((2, 4)), "target": np.array([0, 1])}, variant="large")
    r = Record(big.id, "cross_entropy", "large", "mean", "hypothesis", "fake", "cpu", "float32", "value", "agree",
               error_eps=0.75, k=16.0)
    page = html.render_all(META, [r], {big.id: big})["report-losses/cross_entropy.html"]
    table = page[page.index('id="accuracy-size-table"'):]
    assert "2 × 4" in table[:table.index("</table>")] and "0.75" in table[:table.index("</table>")]
    assert 'id="accuracy-size-table"' not in html.render_all(META, *run(correct("mse"), MSE))["report-losses/mse.html"]
