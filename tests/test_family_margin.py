"""The margin family's oracle: values against mpmath (formula written from the torch.nn
docs), gradients against finite differences, subgradients at the corners, refusals."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(REDUCTIONS))
def test_margin_ranking_matches_mpmath(data, reduction):
    n = data.draw(st.integers(0, 5))
    finite = st.floats(-1e3, 1e3, allow_nan=False)
    x1 = np.array(data.draw(st.lists(finite, min_size=n, max_size=n)))
    x2 = np.array(data.draw(st.lists(finite, min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))
    margin = data.draw(st.floats(-1, 2))
    ev = reference.evaluate("margin_ranking", {"input1": x1, "input2": x2, "target": y},
                            {"margin": margin}, reduction)
    with mp.workdps(DPS):
        terms = mp_array(x1.shape, lambda i: max(mp.mpf(0), -F(y[i]) * (F(x1[i]) - F(x2[i])) + F(margin)))
        floors = mp_array(x1.shape, lambda i: abs(F(x1[i])) + abs(F(x2[i])) + abs(F(margin)))
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(0)
    y = rng.choice([-1.0, 1.0], 6)
    x2 = rng.uniform(-3, 3, 6)
    x1 = x2 - y * (0.5 + rng.choice([-1.0, 1.0], 6) * rng.uniform(0.2, 2.0, 6))  # z kept off 0
    assert_gradient_matches_differences("margin_ranking", {"input1": x1, "input2": x2, "target": y},
                                        {"margin": 0.5}, reduction, ("input1", "input2"))


def test_margin_ranking_corner_has_the_whole_segment_as_subgradient():
    ev = reference.evaluate("margin_ranking", {"input1": np.array([1.0]), "input2": np.array([1.0]),
                                               "target": np.array([1.0])}, {"margin": 0.0}, "sum")
    lo, hi = ev.grads["input1"]
    assert (lo[0], hi[0]) == (-1.0, 0.0)


def test_margin_ranking_refuses_unequal_shapes():
    with pytest.raises(reference.DomainError):
        reference.evaluate("margin_ranking", {"input1": np.zeros(3), "input2": np.zeros(1),
                                              "target": np.ones(3)}, {}, "mean")
