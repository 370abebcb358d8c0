"""The gate's grouping and its CI outputs, on cells and records made here: 22 cells of
one missing API are one group of 22, growth within k is a warning and past k a
regression, and the Markdown, JUnit XML and JSON say so (parsed, not grepped), with
whatever text a framework raised escaped."""
from __future__ import annotations

import collections
import itertools
import json
import xml.etree.ElementTree as ET

import pytest

from conformance.vocab.records import Record
from reports import gate, gate_groups, gate_outputs
from reports.gate import CellStat

DTYPES = ("float64", "float32", "float16", "bfloat16")
MISSING = "AttributeError: module 'optax.losses' has no attribute 'dice_loss' (called with shape ({n}, 3) at 0x7f{n}ab)"


def key(loss="dice", variant="plain", reduction="mean", framework="jax", dtype="float32", check="value", mode=None):
    return (loss, variant, reduction, framework, "cpu", dtype, mode, check)


def record(k: tuple, outcome: str, raised: str | None = None, detail: str = "", error=None) -> Record:
    return Record(case="c", origin="hypothesis", outcome=outcome, raised=raised, detail=detail, error_eps=error,
                  **dict(zip(gate.KEY_FIELDS, k)))


def stat(error: float = 0.0, **outcomes: int) -> CellStat:
    return CellStat(collections.Counter(outcomes or {"agree": 3}), error)


#: 22 cells of dice on JAX: 2 variants x 3 reductions x 4 dtypes, less two
DICE = [key(variant=v, reduction=r, dtype=d) for v, r, d in
        itertools.product(("plain", "logits"), ("mean", "sum", "none"), DTYPES)][:22]


@pytest.fixture()
def upgrade():
    """A baseline where everything agreed and a run where dice's API is gone (error-mismatch
    with one raised text, numbers differing per cell), mse's error grew within k in
    float32, and l1's grew past k in float64."""
    mse, l1 = key(loss="mse"), key(loss="l1", dtype="float64")
    before = {k: stat(0.5) for k in [*DICE, mse, l1]}
    after = {**{k: stat(**{"error-mismatch": 2}) for k in DICE}, mse: stat(9.0), l1: stat(40.0)}
    records = [record(k, "error-mismatch", raised=MISSING.format(n=i)) for i, k in enumerate(DICE)]
    records += [record(mse, "agree", error=9.0), record(l1, "agree", error=40.0)]
    changes = gate.compare(before, after)
    groups = gate_groups.group([c for part in changes for c in part], after, gate_groups.reasons(records))
    return gate_outputs.Verdict("base.json", "after", 2.0, groups, {"baseline": {"jax": "0.9"}, "run": {"jax": "0.10"}})


def test_22_cells_of_one_missing_api_are_one_group_of_22(upgrade):
    regressions = gate_groups.of(upgrade.groups, "regression")
    dice = [g for g in regressions if g.loss == "dice"]
    assert len(dice) == 1 and len(dice[0].changes) == 22
    (group,) = dice
    assert (group.framework, group.kind, group.outcome) == ("jax", gate.NEW_OUTCOME, "error-mismatch")
    assert group.reason == ("AttributeError: module 'optax.losses' has no attribute 'dice_loss' "
                            "(called with shape (N) at 0x…)")
    assert group.covers()["dtype"] == sorted(DTYPES) and group.covers()["variant"] == ["logits", "plain"]
    assert group.line().startswith("jax dice: new outcome error-mismatch in 22 cells (variants logits, plain;")


def test_growth_within_k_is_a_warning_and_past_k_a_regression(upgrade):
    assert [(g.loss, g.kind) for g in gate_groups.of(upgrade.groups, "warning")] == [("mse", gate.WITHIN_TOLERANCE)]
    assert [g.loss for g in gate_groups.of(upgrade.groups, "regression")] == ["dice", "l1"]
    only_within = gate_outputs.Verdict("b", "r", 2.0, gate_groups.of(upgrade.groups, "warning"))
    assert not only_within.failed and upgrade.failed
    assert gate_outputs.terminal(only_within, 10)[-1] == "gate: pass (1 warning(s))"


def test_a_cell_missing_because_its_framework_was_not_run_is_one_group_for_all_its_losses():
    before = {key(loss=loss, framework=fw): stat() for loss in ("mse", "l1", "huber") for fw in ("jax", "torch")}
    after = {k: v for k, v in before.items() if k[3] == "jax"}
    worse, _, _ = gate.compare(before, after)
    (group,) = gate_groups.group(worse, after)
    assert (group.framework, group.loss, group.reason) == ("torch", None, "framework torch was not run")
    assert group.covers()["loss"] == ["huber", "l1", "mse"] and len(group.changes) == 3


def test_without_records_a_group_is_framework_loss_and_outcome():
    before = {k: stat() for k in DICE[:4]}
    after = {k: stat(**{"crash": 1}) for k in DICE[:4]}
    (group,) = gate_groups.group(gate.compare(before, after).regressions, after)
    assert group.reason is None and len(group.changes) == 4


def test_the_json_has_the_verdict_counts_and_every_cell_of_every_group(upgrade):
    data = json.loads(gate_outputs.to_json(upgrade))
    assert data["schema"] == gate_outputs.SCHEMA and data["verdict"] == "FAIL"
    assert data["counts"] == {"regression": {"cells": 23, "groups": 2}, "warning": {"cells": 1, "groups": 1},
                              "improvement": {"cells": 0, "groups": 0}}
    dice = next(g for g in data["groups"] if g["loss"] == "dice")
    assert dice["count"] == len(dice["cells"]) == 22 and dice["severity"] == "regression"
    assert {c["dtype"] for c in dice["cells"]} == set(DTYPES) and dice["cells"][0]["what"].startswith("new outcome")


def test_the_junit_has_a_failing_case_per_regression_group_and_a_skipped_one_per_warning(upgrade):
    root = ET.fromstring(gate_outputs.junit(upgrade))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "2", "1") == \
        (str(len(cases)), str(sum(c.find("failure") is not None for c in cases)),
         str(sum(c.find("skipped") is not None for c in cases)))
    dice = next(c for c in cases if "dice" in c.get("name"))
    assert dice.get("name") == "jax dice: new outcome error-mismatch (22 cells)"
    assert dice.find("failure").get("message").startswith("AttributeError: module 'optax.losses'")
    assert len(dice.find("failure").text.splitlines()) == 1 + 22          # the reason, then each cell
    warned = next(c for c in cases if c.find("skipped") is not None)
    assert "still within k = 16" in warned.find("skipped").get("message")


def test_text_a_framework_raised_cannot_break_the_xml_or_the_markdown_table():
    nasty = 'ValueError: <b>&"quoted"</b> | pipe `tick` \x1b[31m\x00'
    k = key()
    after = {k: stat(crash=1)}
    groups = gate_groups.group(gate.compare({k: stat()}, after).regressions, after,
                               gate_groups.reasons([record(k, "crash", raised=nasty)]))
    verdict = gate_outputs.Verdict("b", "r", 2.0, groups)
    failure = ET.fromstring(gate_outputs.junit(verdict)).find("testsuite/testcase/failure")
    assert failure.get("message").startswith('ValueError: <b>&"quoted"</b> | pipe `tick`')
    row = next(line for line in gate_outputs.markdown(verdict).splitlines() if line.startswith("| jax"))
    assert row.count(" | ") == 6 and "\\<b\\>" in row and "\x1b" not in row and "\x00" not in row
    raw = gate_groups.Group(gate.NEW_OUTCOME, "jax", "dice", "crash", "a\x00b\x1bc",
                            (gate.Change(key(variant="v\x07"), "x"),))
    case = ET.fromstring(gate_outputs.junit(gate_outputs.Verdict("b", "r", 2.0, [raw]))).find("testsuite/testcase")
    assert case.find("failure").get("message") == "a\ufffdb\ufffdc" and "v\ufffd" in case.find("failure").text


def test_the_markdown_says_the_verdict_first_counts_then_tables_capped(upgrade):
    lines = gate_outputs.markdown(upgrade).splitlines()
    assert lines[0] == "## Conformance gate: ❌ FAIL" and lines[2] == "**23 regression(s)**, 1 warning(s)."
    assert "| regressions | 23 | 2 |" in lines and "| warnings (grew, still within tolerance) | 1 | 1 |" in lines
    assert lines.index("### Regressions") < lines.index("### Warnings (grew, still within tolerance)")
    many = [gate_groups.Group(gate.NEW_OUTCOME, "jax", f"loss{i}", "crash", None, (gate.Change(key(), "x"),))
            for i in range(40)]
    capped = gate_outputs.markdown(gate_outputs.Verdict("b", "r", 2.0, many), rows=25).splitlines()
    assert sum(line.startswith("| jax") for line in capped) == 25
    assert "… and 15 more group(s) (15 cells); the JSON output has them all." in capped
    passed = gate_outputs.markdown(gate_outputs.Verdict("b", "r", 2.0, [])).splitlines()
    assert passed[0] == "## Conformance gate: ✅ pass" and passed[2] == "No regressions."


def test_one_error_raised_in_every_dtype_is_one_reason_and_same_titled_junit_cases_keep_apart():
    cells = [key(dtype=d) for d in ("float16", "bfloat16")] + [key(dtype="float32", check="grad:input")]
    texts = ["cannot compute Mul as input #1 was expected to be a half tensor but is a float tensor",
             "cannot compute Mul as input #1 was expected to be a bfloat16 tensor but is a float tensor",
             "a different error"]
    after = {k: stat(crash=1) for k in cells}
    why = gate_groups.reasons([record(k, "crash", raised=t) for k, t in zip(cells, texts)])
    groups = gate_groups.group(gate.compare({k: stat() for k in cells}, after).regressions, after, why)
    assert [(len(g.changes), g.reason) for g in groups] == [
        (2, "cannot compute Mul as input #N was expected to be a <dtype> tensor but is a float tensor"),
        (1, "a different error")]
    names = [c.get("name") for c in ET.fromstring(gate_outputs.junit(gate_outputs.Verdict("b", "r", 2.0, groups)))
             .iter("testcase")]
    assert names == ["jax dice: new outcome crash (2 cells)", "jax dice: new outcome crash (1 cell)"]
    twice = gate_outputs.Verdict("b", "r", 2.0, [groups[1], groups[1]])
    assert [c.get("name") for c in ET.fromstring(gate_outputs.junit(twice)).iter("testcase")] == [
        "jax dice: new outcome crash (1 cell)", "jax dice: new outcome crash (1 cell) #2"]
