"""Edge cases derived from the spec (conformance/derived.py): every loss gets every
structure its layout has, every special value of each argument's role in every
target kind, each float parameter's boundaries and coincident inputs; the
coverage table reads them back; and bugs that no hand-listed edge case reaches
are caught by them."""
from __future__ import annotations

import numpy as np
import pytest

from conformance import cells as cells_module, derived, edge_coverage, engine, profiles
from conformance.vocab import catalog
from conformance.vocab.records import FAILING
from wrong_adapters import ONLY_DERIVED, WRONG

LOSSES = [name for name, spec in catalog.catalog().items() if spec.layout != "ctc"]


@pytest.mark.parametrize("loss", LOSSES)
def test_the_derived_cases_meet_everything_the_spec_calls_for(loss):
    spec = catalog.get(loss)
    met = edge_coverage.met(derived.cases(spec))[loss]
    assert [t for t in edge_coverage.wanted(spec) if not met.get(t)] == []


def test_every_role_of_the_catalog_has_special_values_or_is_named_as_having_none():
    roles = {edge_coverage.role_of(s, v, a) for s in catalog.catalog().values() if s.layout != "ctc"
             for v in s.variants.values() for a in s.arguments}
    without = roles - set(derived.table()["roles"])
    assert without == {"multilabel_indices"}, without    # per-row index lists: the hand-listed cases


def test_one_special_value_per_case_and_the_rest_of_the_case_unchanged():
    spec = catalog.get("bce_with_logits")
    cases = [c for c in derived.specials(spec) if c.note.startswith("derived: input (logits) nan (plain)")]
    assert len(cases) == 1
    x = cases[0].arrays["input"]
    assert np.isnan(x.flat[0]) and np.isfinite(x.ravel()[1:]).all()


def test_probability_rows_stay_normalised_where_the_value_is_inside_the_domain():
    spec = catalog.get("kl_div")
    for case in derived.specials(spec):
        if case.note.startswith("derived: target (probability_rows) zero") and "default" in case.note:
            rows = case.arrays["target"]
            assert rows.ravel()[0] == 0 and np.allclose(rows.sum(axis=-1), 1)
            return
    pytest.fail("no zero in a probability row")


def test_class_index_specials_include_ignore_index_only_where_the_loss_has_one():
    notes = [c.note for c in derived.specials(catalog.get("multiclass_hinge"))]
    assert any("minus_one" in n for n in notes) and any("classes" in n for n in notes)
    assert not any("ignore_index" in n or "all_ignored" in n for n in notes)
    ce = [c for c in derived.specials(catalog.get("cross_entropy")) if "all_ignored (plain)" in c.note]
    assert ce and (ce[0].arrays["target"] == -100).all()


def test_structures_per_layout():
    notes = {c.note.split(" (")[0].split(":")[1].strip() for c in derived.structures(catalog.get("mse"))}
    assert {"empty batch", "one element", "unbatched", "mismatched shapes", "broadcastable shapes"} <= \
        {n.split(" [")[0].split(":")[0] for n in notes} | notes


def test_parameter_boundaries_include_zero_and_the_smallest_positive_where_zero_is_allowed():
    values = {c.params["beta"] for c in derived.boundaries(catalog.get("smooth_l1"))}
    assert values == {0.0, 4.0, 1.0, derived.table()["parameters"]["smallest_positive"]}


def test_derived_cases_are_the_same_in_every_run():
    spec = catalog.get("triplet_margin")
    assert [c.id for c in derived.cases(spec)] == [c.id for c in derived.cases(spec)]


def test_the_edge_cell_holds_the_derived_cases():
    cells_module.clear_case_cache()
    ids = {c.id for c in cells_module.cases_for(cells_module.Cell("huber", "edge"), 1, 0)}
    assert {c.id for c in derived.cases(catalog.get("huber"))} <= ids


def _caught(adapter, loss, monkeypatch, with_derived: bool) -> bool:
    if not with_derived:
        monkeypatch.setattr(derived, "cases", lambda spec: [])
    cells_module.clear_case_cache()
    try:
        profile = profiles.get("ci")
        edge = [c for c in cells_module.cells((loss,)) if c.source == "edge"]
        for unit in engine.iterate([adapter], edge, ("float64", "float32"), ("cpu",), profile, profile.seed):
            if any(r.outcome in FAILING for _case, records in unit.found for r in records):
                return True
        return False
    finally:
        monkeypatch.undo()
        cells_module.clear_case_cache()


@pytest.mark.parametrize("name", ONLY_DERIVED)
def test_a_bug_no_hand_listed_edge_case_reaches_is_caught_by_the_derived_ones(name, monkeypatch):
    wrong = next(w for w in WRONG if w.name == name)
    assert not _caught(wrong(), wrong.loss, monkeypatch, with_derived=False), "a hand-listed case catches it"
    assert _caught(wrong(), wrong.loss, monkeypatch, with_derived=True)


def test_list_prints_the_edge_coverage_of_a_loss(capsys):
    from conformance.cli import main
    assert main(["list", "nll"]) == 0
    out = capsys.readouterr().out
    assert "special inputs met by" in out and "minus_one" in out and "all_ignored" in out
