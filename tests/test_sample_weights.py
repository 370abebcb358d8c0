"""Sample weights (reference/sample_weights.py): the oracle's weighted reductions
against mpmath and finite differences; the catalog's sample-weighted variants and
their extra reduction; each framework's composition (its 'none' terms weighed in
its own ops) against the oracle; and the refusals (a negative weight, a weight of
the wrong shape)."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import reference
from conformance.check import check
from conformance.strategies.cases import draw_cases
from conformance.vocab import catalog
import installed
from fakes import case
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

X = np.array([[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]])
Y = np.array([[0.25, 1.0, -0.5], [0.0, 0.5, 1.25]])
W = np.array([[2.0, 0.0, 0.5], [1.0, 3.0, 0.25]])
LOGITS = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25], [-0.5, 0.75, 0.125]])
CLASSES = np.array([0, 2, 1])
ROW_W = np.array([0.5, 2.0, 0.0])
WEIGHTED = [name for name, spec in catalog.catalog().items() if catalog.SAMPLE_WEIGHT in spec.arguments]


def _exact_mse_terms():
    return mp_array(X.shape, lambda i: F(W[i]) * (F(X[i]) - F(Y[i])) ** 2)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "weighted_mean"])
def test_weighted_mse_is_the_weighted_sum_of_its_exact_terms(reduction):
    ev = reference.evaluate("mse", {"input": X, "target": Y, "sample_weight": W}, {}, reduction)
    with mp.workdps(DPS):
        terms = _exact_mse_terms()
        floors = mp_array(X.shape, lambda i: abs(terms[i]))
        denominator = mp.fsum(F(w) for w in W.ravel()) if reduction == "weighted_mean" else None
        assert_round_off(ev, terms, floors, "mean" if reduction == "weighted_mean" else reduction, denominator)


def test_weighted_cross_entropy_weighs_each_row():
    ev = reference.evaluate("cross_entropy", {"input": LOGITS, "target": CLASSES, "sample_weight": ROW_W}, {},
                            "weighted_mean")
    with mp.workdps(DPS):
        def row(i):
            return mp.log(mp.fsum(mp.exp(F(v)) for v in LOGITS[i])) - F(LOGITS[i, CLASSES[i]])
        want = mp.fsum(F(ROW_W[i]) * row(i) for i in range(3)) / mp.fsum(F(w) for w in ROW_W)
        assert abs(F(ev.value[()]) - want) <= 64 * 2.0 ** -52 * abs(want)


@pytest.mark.parametrize("loss,arrays,wrt", [
    ("mse", {"input": X, "target": Y, "sample_weight": W}, ("input", "target")),
    ("huber", {"input": X, "target": Y, "sample_weight": W}, ("input", "target")),
    ("cross_entropy", {"input": LOGITS, "target": CLASSES, "sample_weight": ROW_W}, ("input",)),
    ("cosine_similarity", {"input": X, "target": Y, "sample_weight": np.array([0.5, 3.0])}, ("input", "target")),
    ("categorical_hinge", {"input": LOGITS, "target": np.eye(3)[CLASSES], "sample_weight": ROW_W}, ("input",)),
])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "weighted_mean"])
def test_the_weighted_gradient_matches_finite_differences(loss, arrays, wrt, reduction):
    assert_gradient_matches_differences(loss, arrays, {}, reduction, wrt)


def test_a_zero_weight_leaves_an_infinite_term_out():
    x = np.array([np.inf, 1.0])
    ev = reference.evaluate("mse", {"input": x, "target": np.zeros(2), "sample_weight": np.array([0.0, 2.0])},
                            {}, "sum")
    assert ev.value == 2.0
    assert ev.grads["input"][0].tolist() == [0.0, 4.0]


def test_all_weights_zero_make_the_weighted_mean_undefined_and_the_mean_zero():
    arrays = {"input": X, "target": Y, "sample_weight": np.zeros_like(X)}
    assert reference.evaluate("mse", arrays, {}, "weighted_mean").undefined
    ev = reference.evaluate("mse", arrays, {}, "mean")
    assert ev.value == 0.0 and not ev.undefined


@pytest.mark.parametrize("weights,words", [(-W, "must be >= 0"), (W[:, :2], "shape")])
def test_a_negative_or_misshapen_weight_is_refused(weights, words):
    with pytest.raises(reference.DomainError, match=words):
        reference.evaluate("mse", {"input": X, "target": Y, "sample_weight": weights}, {}, "sum")


def test_every_weighted_loss_has_a_weighted_variant_with_the_weighted_mean_and_no_batchmean():
    assert len(WEIGHTED) >= 19
    for name in WEIGHTED:
        spec = catalog.get(name)
        assert "weighted_mean" in spec.reductions_of("sample_weight")
        assert "batchmean" not in spec.reductions_of("sample_weight")
        assert "weighted_mean" not in spec.reductions_of(next(iter(spec.variants)))
        for c in draw_cases(spec, "sample_weight", "weighted_mean", count=2, seed_value=3):
            terms = reference.evaluate(name, {k: v for k, v in c.arrays.items() if k != "sample_weight"},
                                       c.params, "none")
            assert c.arrays["sample_weight"].shape == np.shape(terms.value), name




@pytest.mark.parametrize("framework", ["numpy", "torch", "jax", "tensorflow"])
@pytest.mark.parametrize("c", [
    case("mse", {"input": X, "target": Y, "sample_weight": W}, "weighted_mean", variant="sample_weight"),
    case("cross_entropy", {"input": LOGITS, "target": CLASSES, "sample_weight": ROW_W}, "mean",
         variant="sample_weight"),
    case("cosine_similarity", {"input": X, "target": Y, "sample_weight": np.array([0.5, 3.0])}, "none",
         variant="sample_weight"),
], ids=["mse-weighted_mean", "cross_entropy-mean", "cosine_similarity-none"])
def test_each_framework_composes_sample_weights_that_agree_with_the_oracle(framework, c):
    records = check(c, installed.adapter(framework), "cpu", "float32")
    assert all(r.outcome in ("agree", "documented") for r in records), [(r.check, r.outcome, r.detail) for r in records]
    if framework != "numpy":
        assert {r.support for r in records} == {"composed"}
        assert "sample weights composed" in records[0].api


def test_a_composition_that_divides_by_the_count_fails_the_weighted_mean():
    """The two meanings of a weighted mean differ: dividing by n where the weights' sum
    is asked for is a mismatch, not a tolerance question."""
    from fakes import Fake, exact

    by_count = Fake({"mse": exact("mse", before=lambda a: a)})
    good = check(case("mse", {"input": X, "target": Y, "sample_weight": W}, "weighted_mean"), by_count, "cpu",
                 "float64")
    assert {r.outcome for r in good} == {"agree"}
    wrong = Fake({"mse": exact("mse", after=lambda v, g: (v * W.sum() / W.size, g))})
    records = check(case("mse", {"input": X, "target": Y, "sample_weight": W}, "weighted_mean"), wrong, "cpu",
                    "float64")
    assert [r.outcome for r in records if r.check == "value"] == ["mismatch"]


def test_a_framework_refuses_a_misshapen_weight_as_the_oracle_does():
    c = case("mse", {"input": X, "target": Y, "sample_weight": W[:, :2]}, "sum", variant="sample_weight")
    records = check(c, installed.adapter("torch"), "cpu", "float32")
    assert [(r.check, r.outcome) for r in records] == [("value", "agree")]
    assert "both refuse" in records[0].detail
