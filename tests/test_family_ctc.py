"""The ctc family's oracle: values against a brute-force enumeration of every
alignment in mpmath (written from the definition: a path collapses to the target
by merging repeats and dropping blanks), gradients against finite differences,
impossible alignments, zero_infinity, repeated labels, empty targets, refusals, the
frameworks' policy knobs, and the layout's case strategy."""
from __future__ import annotations

import itertools
import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import reference
from conformance import strategies
from conformance.vocab import catalog
from conformance.strategies.ctc import needed_frames
from oracle_checks import DPS, F, assert_gradient_matches_differences, assert_round_off, mp_array

REDUCTIONS = ("none", "sum", "mean")
LOG_EPSILON = -1e5
TF_LOG_0 = float(np.float32(np.log(1e-307)))


def collapse(path, blank):
    out, previous = [], None
    for c in path:
        if c != previous and c != blank:
            out.append(c)
        previous = c
    return out


def exact(x: np.ndarray, labels, blank: int) -> tuple[mp.mpf, mp.mpf]:
    """(-log of the summed probability of every alignment, posterior-weighted path
    magnitude + frames) by enumerating all C^T paths; +inf when none aligns."""
    frames, classes = x.shape
    total, weighted = mp.mpf(0), mp.mpf(0)
    for path in itertools.product(range(classes), repeat=frames):
        if collapse(path, blank) == list(labels):
            w = mp.exp(mp.fsum(F(x[t, c]) for t, c in enumerate(path)))
            total += w
            weighted += w * mp.fsum(abs(F(x[t, c])) for t, c in enumerate(path))
    if total == 0:
        return mp.inf, mp.mpf(0)
    return -mp.log(total), weighted / total + frames


def evaluate(x, targets, il, tl, reduction="sum", **params):
    """The oracle on these arrays (NaN inputs give NaN without warnings)."""
    arrays = {"log_probs": np.asarray(x, dtype=np.float64), "targets": np.asarray(targets, dtype=np.int64),
              "input_lengths": np.asarray(il, dtype=np.int64), "target_lengths": np.asarray(tl, dtype=np.int64)}
    with np.errstate(invalid="ignore"):
        return reference.evaluate("ctc", arrays, params, reduction), arrays


@st.composite
def batches(draw, normalised: bool = True):
    frames = draw(st.integers(0, 5), label="T")
    classes = draw(st.integers(2, 3), label="C")
    n = draw(st.integers(1, 3), label="N")
    width = draw(st.integers(0, 3), label="S")
    blank = draw(st.integers(0, classes - 1), label="blank")
    others = [c for c in range(classes) if c != blank]
    rows = np.array(draw(st.lists(st.lists(st.sampled_from(others), min_size=width, max_size=width),
                                  min_size=n, max_size=n), label="labels"), dtype=np.int64).reshape(n, width)
    tl = np.array(draw(st.lists(st.integers(0, width), min_size=n, max_size=n), label="tl"), dtype=np.int64)
    il = np.array(draw(st.lists(st.just(frames) | st.integers(0, frames), min_size=n, max_size=n), label="il"),
                  dtype=np.int64)
    scale = draw(st.sampled_from([1.0, 5.0, 30.0]), label="scale")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    x = rng.uniform(-scale, scale, (frames, n, classes))
    if normalised:
        x = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    return x, rows, il, tl, blank


@settings(max_examples=60, deadline=None)
@given(batches(normalised=True) | batches(normalised=False), st.sampled_from(REDUCTIONS))
def test_ctc_matches_the_enumeration_of_every_alignment(batch, reduction):
    x, rows, il, tl, blank = batch
    ev, _ = evaluate(x, rows, il, tl, reduction, blank=blank)
    with mp.workdps(DPS):
        pairs = [exact(x[:il[i], i, :], rows[i, :tl[i]], blank) for i in range(rows.shape[0])]
        impossible = [loss == mp.inf for loss, _ in pairs]
        if any(impossible):                                 # +inf, not a round-off question
            if reduction == "none":
                assert [v == np.inf for v in ev.value] == impossible
            else:
                assert ev.value == np.inf
            return
        per = [max(int(k), 1) if reduction == "mean" else 1 for k in tl]
        terms = mp_array((len(pairs),), lambda i: pairs[i[0]][0] / per[i[0]])
        floors = mp_array((len(pairs),), lambda i: pairs[i[0]][1] / per[i[0]])
    assert_round_off(ev, terms, floors, reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("layout", ["padded", "blank_last", "unbatched", "concatenated", "short_inputs"])
def test_ctc_gradient_is_minus_the_posterior_and_matches_finite_differences(layout, reduction):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 3, 4)) * 2.0            # free inputs: not normalised, on purpose
    rows, il, tl, blank = np.array([[1, 2, 2], [3, 1, 0], [2, 2, 2]]), [6, 6, 6], [3, 2, 0], 0
    targets = rows
    if layout == "blank_last":
        rows, blank = np.array([[1, 2, 2], [0, 1, 0], [2, 0, 0]]), 3
        targets, tl = rows, [3, 3, 1]
    if layout == "short_inputs":
        il = [5, 2, 0]                              # frames past the input: gradient 0
        tl = [3, 2, 0]
    if layout == "concatenated":
        targets = np.concatenate([rows[i, :k] for i, k in enumerate(tl)])
    if layout == "unbatched":
        x, targets, il, tl = x[:, 0, :], rows[0], 6, 3
    ev, arrays = evaluate(x, targets, il, tl, reduction, blank=blank)
    assert np.all(np.isfinite(ev.value))
    assert_gradient_matches_differences("ctc", arrays, {"blank": blank}, reduction, ("log_probs",))
    g = ev.grads["log_probs"][0]
    if reduction == "sum" and layout != "unbatched":
        # minus the posterior: at every frame of the input the classes' occupancies add up to 1
        for i, steps in enumerate(np.atleast_1d(arrays["input_lengths"])):
            np.testing.assert_allclose(g[:steps, i, :].sum(axis=-1), -1.0, rtol=1e-12)
            assert np.all(g[steps:, i, :] == 0)


def test_repeated_labels_need_a_blank_between_them():
    x = np.log(np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25], [0.1, 0.6, 0.3]]))
    ev, _ = evaluate(x, [1, 1], 3, 2, "sum")        # the only alignment: 1, blank, 1
    assert ev.value == pytest.approx(-(x[0, 1] + x[1, 0] + x[2, 1]), rel=1e-15)
    want = np.zeros_like(x)
    want[0, 1] = want[1, 0] = want[2, 1] = -1.0
    np.testing.assert_allclose(ev.grads["log_probs"][0], want, atol=1e-15)
    ev, _ = evaluate(x[:2], [1, 1], 2, 2, "sum")    # two frames cannot hold it
    assert ev.value == np.inf


def test_an_empty_target_is_the_all_blank_path_and_mean_divides_by_one():
    x = np.log(np.array([[[0.2, 0.8]], [[0.6, 0.4]], [[0.9, 0.1]]]))
    for blank in (0, 1):
        ev, _ = evaluate(x, np.zeros((1, 0)), [3], [0], "mean", blank=blank)
        assert ev.value == pytest.approx(-x[:, 0, blank].sum(), rel=1e-15)
        want = np.zeros_like(x)
        want[:, 0, blank] = -1.0
        np.testing.assert_array_equal(ev.grads["log_probs"][0], want)
    ev, _ = evaluate(x, np.zeros((1, 0)), [0], [0], "none")   # no frame, no label: probability 1
    assert ev.value[0] == 0.0
    ev, _ = evaluate(x, [[1]], [0], [1], "none")               # no frame for one label
    assert ev.value[0] == np.inf


def test_mean_divides_each_loss_by_its_target_length_then_averages():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 3, 3))
    args = ([[1, 2, 1], [2, 2, 0], [1, 0, 0]], [5, 4, 3], [3, 2, 0])
    none, _ = evaluate(x, *args, "none")
    mean, _ = evaluate(x, *args, "mean")
    assert mean.value == pytest.approx(np.mean(none.value / np.array([3, 2, 1])), rel=1e-14)


def test_an_impossible_alignment_is_infinite_with_an_undefined_gradient():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 2, 3))
    args = ([[1, 1, 1], [1, 2, 0]], [4, 6], [3, 2])            # [1, 1, 1] needs 5 frames, has 4
    ev, _ = evaluate(x, *args, "none")
    alone, _ = evaluate(x[:, 1:], [[1, 2, 0]], [6], [2], "none")
    assert ev.value[0] == np.inf and ev.value[1] == alone.value[0]
    g = ev.grads["log_probs"][0]
    assert np.isnan(g[:4, 0]).all() and np.all(g[4:, 0] == 0)
    np.testing.assert_array_equal(g[:, 1], alone.grads["log_probs"][0][:, 0])
    for reduction in REDUCTIONS:
        ev, _ = evaluate(x, *args, reduction, zero_infinity=True)
        z = ev.grads["log_probs"][0]
        assert np.all(z[:, 0] == 0) and np.all(np.isfinite(ev.value))
        assert np.all(np.isfinite(z[:, 1]))
    ev, _ = evaluate(x, *args, "mean", zero_infinity=True)
    assert ev.value == pytest.approx(alone.value[0] / 2 / 2, rel=1e-14)   # (0 + loss / 2) / N


def test_nan_propagates_to_the_value_and_the_gradient_of_the_frames_read():
    x = np.log(np.full((4, 1, 3), 1 / 3))
    x[1, 0, 0] = np.nan                              # the blank, read by every alignment
    ev, _ = evaluate(x, [[1]], [3], [1], "none")
    g = ev.grads["log_probs"][0]
    assert np.isnan(ev.value[0]) and np.isnan(g[:3]).all() and np.all(g[3:] == 0)
    x[1, 0, 0], x[1, 0, 2] = np.log(1 / 3), np.nan   # a class no alignment reads: no effect
    ev, _ = evaluate(x, [[1]], [3], [1], "none")
    assert np.isfinite(ev.value[0]) and ev.grads["log_probs"][0][1, 0, 2] == 0


BAD = {
    "a blank inside the target": (np.zeros((3, 1, 3)), [[0, 1]], [3], [2], {}),
    "a label outside [0, C)": (np.zeros((3, 1, 3)), [[3]], [3], [1], {}),
    "a negative label": (np.zeros((3, 1, 3)), [[-1]], [3], [1], {}),
    "input_lengths beyond T": (np.zeros((3, 1, 3)), [[1]], [4], [1], {}),
    "target_lengths beyond S": (np.zeros((3, 1, 3)), [[1]], [3], [2], {}),
    "a negative input length": (np.zeros((3, 1, 3)), [[1]], [-1], [1], {}),
    "concatenated lengths not adding up": (np.zeros((3, 2, 3)), [1, 2, 1], [3, 3], [1, 1], {}),
    "an unbatched target longer than its length": (np.zeros((3, 3)), [1, 2], 3, 1, {}),
    "blank outside [0, C)": (np.zeros((3, 1, 3)), [[1]], [3], [1], {"blank": 3}),
    "log_probs of rank 4": (np.zeros((3, 1, 1, 3)), [[1]], [3], [1], {}),
    "lengths of the wrong shape": (np.zeros((3, 2, 3)), [[1], [2]], [3], [1], {}),
}


@pytest.mark.parametrize("why", BAD)
def test_ctc_refuses_input_outside_its_domain(why):
    x, targets, il, tl, params = BAD[why]
    with pytest.raises(reference.DomainError):
        evaluate(x, targets, il, tl, "mean", **params)


def test_labels_and_lengths_are_value_dependent_refusals_and_shapes_are_not():
    with pytest.raises(reference.DomainError) as err:
        evaluate(*BAD["a blank inside the target"][:4])
    assert err.value.value_dependent
    with pytest.raises(reference.DomainError) as err:
        evaluate(*BAD["log_probs of rank 4"][:4])
    assert not err.value.value_dependent


# -- the frameworks' stand-ins for log 0 -----------------------------------------------
def test_log_epsilon_changes_nothing_where_an_alignment_exists():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5, 2, 3))
    args = ([[1, 2, 2], [2, 0, 0]], [5, 3], [3, 1])
    plain, _ = evaluate(x, *args, "sum")
    for knob in ({"log_epsilon": LOG_EPSILON}, {"final_log_zero": TF_LOG_0}):
        ev, _ = evaluate(x, *args, "sum", **knob)
        assert ev.value == pytest.approx(plain.value, rel=1e-15)
        np.testing.assert_allclose(ev.grads["log_probs"][0], plain.grads["log_probs"][0], rtol=1e-13, atol=1e-300)


def test_log_epsilon_makes_an_impossible_alignment_finite_as_optax_lattice_says():
    p = np.array([0.5, 0.3, 0.2])
    x = np.log(p)[None, None, :]
    # no frame, one label: the label state and the last blank each begin with log_epsilon
    ev, _ = evaluate(x, [[1]], [0], [1], "none", log_epsilon=LOG_EPSILON)
    assert ev.value[0] == pytest.approx(1e5 - math.log(2), rel=1e-15)
    # one frame for [1, 1]: end in the second 1 (begun there or at the blank before it, each
    # one penalty, or via the penalised skip, two) or in the last blank (begun there or at
    # the second 1): loss = 1e5 - log(2 p1 + 2 p_blank)
    ev, _ = evaluate(x, [[1, 1]], [1], [2], "none", log_epsilon=LOG_EPSILON)
    assert ev.value[0] == pytest.approx(1e5 - math.log(2 * p[1] + 2 * p[0]), rel=1e-15)
    assert np.all(np.isfinite(ev.grads["log_probs"][0]))


def test_zero_infinity_zeros_what_would_be_infinite_without_the_stand_in_for_log_0():
    x = np.log(np.array([0.5, 0.3, 0.2]))[None, None, :]
    for knob in ({"log_epsilon": LOG_EPSILON}, {"final_log_zero": TF_LOG_0}):
        ev, _ = evaluate(x, [[1, 1]], [1], [2], "none", zero_infinity=True, **knob)
        assert ev.value[0] == 0 and np.all(ev.grads["log_probs"][0] == 0) and ev.scale[0] == 0


def test_final_log_zero_ends_an_impossible_alignment_in_a_non_final_state():
    p = np.array([0.5, 0.3, 0.2])
    x = np.log(p)[None, None, :]
    ev, _ = evaluate(x, [[1, 1]], [1], [2], "none", final_log_zero=TF_LOG_0)
    assert ev.value[0] == pytest.approx(-TF_LOG_0 - math.log(p[0] + p[1]), rel=1e-15)
    assert_gradient_matches_differences("ctc", evaluate(x, [[1, 1]], [1], [2])[1], {}, "sum", ("log_probs",),
                                        policies={"final_log_zero": TF_LOG_0})


def test_final_log_zero_lets_a_path_end_in_the_zero_padded_labels_states():
    # blank 1, an empty target in a row of width 1: TensorFlow's lattice also holds the
    # padding label (class 0); ending there costs log(1e-307), which beats a blank path
    # of probability e^-800: the loss is capped near 707
    x = np.array([[[-1.0, -800.0, -2.0]]])
    ev, _ = evaluate(x, [[2]], [1], [0], "none", blank=1, final_log_zero=TF_LOG_0)
    assert ev.value[0] == pytest.approx(-np.logaddexp(-800.0, TF_LOG_0 - 1.0), rel=1e-15)
    plain, _ = evaluate(x, [[2]], [1], [0], "none", blank=1)
    assert plain.value[0] == 800.0


# -- the case strategy (layout "ctc") -----------------------------------------------------
SPEC = catalog.get("ctc")


@pytest.mark.parametrize("variant", list(SPEC.variants))
def test_drawn_cases_honour_their_variant(variant):
    cases = strategies.draw_cases(SPEC, variant, "mean", count=12, seed_value=4)
    settings_ = SPEC.variant(variant)
    feasible = 0
    assert cases
    for c in cases:
        x, t, il, tl = (c.arrays[k] for k in ("log_probs", "targets", "input_lengths", "target_lengths"))
        blank = c.params.get("blank", 0)
        assert blank == settings_.get("blank", 0)
        assert t.dtype == il.dtype == tl.dtype == np.int64 and x.dtype == np.float64
        np.testing.assert_allclose(np.exp(x).sum(axis=-1), 1.0, rtol=1e-9)
        if variant == "unbatched":
            assert x.ndim == 2 and il.shape == tl.shape == () and t.shape == (int(tl),)
            labels = [t]
        elif variant == "concatenated":
            assert x.ndim == 3 and t.ndim == 1 and t.size == tl.sum()
            labels = np.split(t, np.cumsum(tl)[:-1])
        else:
            assert x.ndim == 3 and t.shape[0] == x.shape[1] and np.all(tl <= t.shape[1])
            labels = [t[i, :k] for i, k in enumerate(tl)]
        assert np.all((il >= 0) & (il <= x.shape[0]))
        for row in labels:
            assert np.all((row >= 0) & (row < x.shape[-1]) & (row != blank))
        feasible += all(needed_frames(r) <= k for r, k in zip(labels, np.atleast_1d(il)))
        with np.errstate(all="ignore"):
            reference.evaluate("ctc", c.arrays, c.params, c.reduction)     # accepted
    assert feasible >= len(cases) // 2
    if variant == "zero_infinity":
        assert {c.params["zero_infinity"] for c in cases} == {True}


def test_the_strategy_draws_some_impossible_alignments():
    # ~5% of drawn cases (6% before cases came in shape groups, where one group's
    # frames may all be too many to make any of its targets impossible): over a
    # few seeds, not one, whose 60 cases may hold none
    cases = [c for seed in range(4) for v in SPEC.variants
             for c in strategies.draw_cases(SPEC, v, "sum", count=12, seed_value=seed)]
    with np.errstate(all="ignore"):
        values = [reference.evaluate("ctc", c.arrays, c.params, "none").value for c in cases]
    assert any(np.isinf(v).any() for v in values)


def test_a_drawn_blank_is_refused_with_a_clear_message():
    spec = catalog._spec("ctc_drawn", {**_raw(), "variants": {"drawn": {"blank": "draw"}}})
    with pytest.raises(Exception, match="literal blank"):
        strategies.draw_cases(spec, "drawn", "mean", count=1, seed_value=0)


def _raw():
    import tomllib
    with open(catalog.CATALOG_DIR / "ctc.toml", "rb") as f:
        return tomllib.load(f)["loss"]["ctc"]


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_needed_frames_counts_one_per_label_and_one_per_adjacent_repeat(data):
    labels = np.array(data.draw(st.lists(st.integers(1, 2), max_size=4)), dtype=np.int64)
    found = min((len(p) for k in range(len(labels), 2 * len(labels) + 1)
                 for p in itertools.product((0, 1, 2), repeat=k) if collapse(p, 0) == list(labels)), default=0)
    assert needed_frames(labels) == found
