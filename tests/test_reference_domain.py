"""The oracle's documented refusals (DomainError), NaN propagation, and the BCE policy knobs."""
from __future__ import annotations

import math

import numpy as np
import pytest

import reference
from reference import DomainError

X3 = np.array([[0.1, 2.0, -1.0], [0.5, 0.5, 3.0]])  # (N=2, C=3) logits


def ev(loss, arrays, params=None, reduction="mean", policies=None):
    return reference.evaluate(loss, arrays, params or {}, reduction, policies)


# ---------------------------------------------------------------- class indices

@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
@pytest.mark.parametrize("bad", [3, -1, 100], ids=["equal_to_C", "negative", "far_above"])
def test_class_index_out_of_range_is_refused(loss, bad):
    with pytest.raises(DomainError):
        ev(loss, {"input": X3, "target": np.array([0, bad])})


@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
@pytest.mark.parametrize("ignore_index", [-1, -100, 3, 7])
def test_ignore_index_itself_is_accepted_even_when_negative_or_beyond_the_classes(loss, ignore_index):
    out = ev(loss, {"input": X3, "target": np.array([ignore_index, 1])}, {"ignore_index": ignore_index}, "none")
    assert out.value[0] == 0 and out.value[1] != 0


@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
def test_class_index_out_of_range_is_refused_in_a_k_dimensional_target(loss):
    x = np.zeros((2, 3, 2, 2))
    t = np.zeros((2, 2, 2), dtype=np.int64)
    t[1, 1, 0] = 3
    with pytest.raises(DomainError):
        ev(loss, {"input": x, "target": t})


def test_nll_refuses_a_float_target():
    with pytest.raises(DomainError):
        ev("nll", {"input": X3, "target": np.array([0.0, 1.0])})


def test_nll_refuses_a_float_target_even_of_the_input_shape():
    with pytest.raises(DomainError):
        ev("nll", {"input": X3, "target": np.full(X3.shape, 1 / 3)})


@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
def test_class_index_target_of_the_wrong_shape_is_refused(loss):
    with pytest.raises(DomainError):
        ev(loss, {"input": X3, "target": np.array([0, 1, 2])})


@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
def test_a_zero_dimensional_input_without_class_axis_is_refused(loss):
    with pytest.raises(DomainError):
        ev(loss, {"input": np.array(1.0), "target": np.array(0)})


@pytest.mark.parametrize("bad", [-0.25, 1.5], ids=["negative", "above_one"])
def test_cross_entropy_probability_target_outside_unit_interval_is_refused(bad):
    t = np.full(X3.shape, 0.25)
    t[1, 2] = bad
    with pytest.raises(DomainError):
        ev("cross_entropy", {"input": X3, "target": t})


@pytest.mark.parametrize("label_smoothing", [-0.1, 1.1, math.nan])
def test_label_smoothing_outside_unit_interval_is_refused(label_smoothing):
    with pytest.raises(DomainError):
        ev("cross_entropy", {"input": X3, "target": np.array([0, 1])}, {"label_smoothing": label_smoothing})


@pytest.mark.parametrize("label_smoothing", [0.0, 1.0])
def test_label_smoothing_at_the_ends_of_the_unit_interval_is_accepted(label_smoothing):
    assert np.isfinite(ev("cross_entropy", {"input": X3, "target": np.array([0, 1])},
                          {"label_smoothing": label_smoothing}).value)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
@pytest.mark.parametrize("shape", [(2,), (4,), (1, 3), ()], ids=["too_short", "too_long", "two_dim", "scalar"])
def test_class_weight_of_the_wrong_shape_is_refused(loss, shape):
    with pytest.raises(DomainError):
        ev(loss, {"input": X3, "target": np.array([0, 1]), "weight": np.ones(shape)})


# ---------------------------------------------------------------- elementwise losses

ELEMENTWISE = [("l1", {}), ("mse", {}), ("smooth_l1", {}), ("smooth_l1", {"beta": 0.0}), ("huber", {}),
               ("bce", {}), ("bce_with_logits", {})]
ELEMENTWISE_IDS = ["l1", "mse", "smooth_l1", "smooth_l1_beta0", "huber", "bce", "bce_with_logits"]


@pytest.mark.parametrize("loss,params", ELEMENTWISE, ids=ELEMENTWISE_IDS)
@pytest.mark.parametrize("shapes", [((3,), (4,)), ((2, 3), (3,)), ((3, 1), (3,)), ((1,), ())],
                         ids=["lengths_differ", "target_would_broadcast", "transposed_broadcast", "scalar_target"])
def test_elementwise_loss_refuses_input_and_target_of_different_shapes(loss, params, shapes):
    with pytest.raises(DomainError):
        ev(loss, {"input": np.full(shapes[0], 0.5), "target": np.full(shapes[1], 0.25)}, params)


@pytest.mark.parametrize("loss,key", [("bce", "weight"), ("bce_with_logits", "weight"),
                                      ("bce_with_logits", "pos_weight")])
def test_binary_weight_that_does_not_broadcast_to_the_input_is_refused(loss, key):
    with pytest.raises(DomainError):
        ev(loss, {"input": np.full((2, 3), 0.5), "target": np.full((2, 3), 0.5), key: np.ones(2)})


@pytest.mark.parametrize("key", ["weight", "pos_weight"])
def test_binary_weights_of_any_value_are_evaluated_not_refused(key):
    """The formula w [p y softplus(-x) + (1 - y) softplus(x)] is defined for any p (and
    torch documents no domain for either weight): a negative weight is computed, an
    infinite or NaN one propagates (inf * 0 = NaN); none is refused."""
    x, y = np.array([0.5, -1.0, 2.0, 0.0]), np.array([1.0, 0.5, 0.0, 1.0])
    w = np.array([-0.5, np.inf, np.inf, np.nan])
    got = ev("bce_with_logits", {"input": x, "target": y, key: w}, reduction="none")
    sp = np.logaddexp(0.0, x)                        # softplus(x); softplus(-x) = sp - x
    with np.errstate(invalid="ignore"):
        if key == "pos_weight":
            expected = w * y * (sp - x) + (1 - y) * sp   # [-0.5 softplus(-0.5), inf, nan (inf * 0), nan]
        else:
            expected = w * (y * (sp - x) + (1 - y) * sp)
    np.testing.assert_allclose(got.value, expected, rtol=1e-15)
    assert got.value[0] < 0 and np.isinf(got.value[1]) and np.isnan(got.value[3])


@pytest.mark.parametrize("which", ["input", "target"])
@pytest.mark.parametrize("bad", [-1e-300, 1.0 + 2.0 ** -52, -math.inf, 2.0], ids=["below0", "above1", "neg_inf", "two"])
def test_bce_refuses_input_or_target_outside_unit_interval(which, bad):
    arrays = {"input": np.array([0.25, 0.5]), "target": np.array([0.0, 1.0])}
    arrays[which] = arrays[which].copy()
    arrays[which][1] = bad
    with pytest.raises(DomainError):
        ev("bce", arrays)


@pytest.mark.parametrize("beta", [-1.0, -1e-300])
def test_smooth_l1_refuses_negative_beta(beta):
    with pytest.raises(DomainError):
        ev("smooth_l1", {"input": np.ones(2), "target": np.zeros(2)}, {"beta": beta})


@pytest.mark.parametrize("delta", [0.0, -1.0, math.nan])
def test_huber_refuses_delta_that_is_not_positive(delta):
    with pytest.raises(DomainError):
        ev("huber", {"input": np.ones(2), "target": np.zeros(2)}, {"delta": delta})


@pytest.mark.parametrize("reduction", ["avg", "batch_mean", "", "Mean"])
def test_unknown_reduction_is_refused(reduction):
    with pytest.raises(DomainError):
        ev("mse", {"input": np.ones(2), "target": np.zeros(2)}, reduction=reduction)


# ---------------------------------------------------------------- NaN propagates

NAN_CASES = {
    "l1": ({"input": np.array([1.0, math.nan, 2.0]), "target": np.zeros(3)}, {}),
    "mse": ({"input": np.zeros(3), "target": np.array([1.0, math.nan, 2.0])}, {}),
    "smooth_l1": ({"input": np.array([1.0, math.nan, 2.0]), "target": np.zeros(3)}, {"beta": 0.5}),
    "huber": ({"input": np.array([1.0, math.nan, 2.0]), "target": np.zeros(3)}, {"delta": 0.5}),
    "bce": ({"input": np.array([0.5, math.nan, 0.25]), "target": np.array([1.0, 0.5, 0.0])}, {}),
    "bce_with_logits": ({"input": np.array([0.5, math.nan, -3.0]), "target": np.array([1.0, 0.5, 0.0])}, {}),
    "cross_entropy": ({"input": np.array([[0.1, 2.0, -1.0], [0.5, math.nan, 3.0], [1.0, 1.0, 1.0]]),
                       "target": np.array([0, 2, 1])}, {}),
    "nll": ({"input": np.array([[0.1, 2.0, -1.0], [0.5, math.nan, 3.0], [1.0, 1.0, 1.0]]),
             "target": np.array([0, 1, 1])}, {}),
}


@pytest.mark.parametrize("loss", NAN_CASES)
def test_nan_input_propagates_to_its_own_term_and_the_reductions_without_error(loss):
    arrays, params = NAN_CASES[loss]
    with np.errstate(all="ignore"):
        terms = ev(loss, arrays, params, "none").value
        assert np.isnan(terms[1]) and np.all(np.isfinite(terms[[0, 2]]))
        assert np.isnan(ev(loss, arrays, params, "sum").value)
        assert np.isnan(ev(loss, arrays, params, "mean").value)


# ---------------------------------------------------------------- BCE policy knobs

CERTAINLY_WRONG = {"input": np.array([0.0]), "target": np.array([1.0])}


def test_bce_with_torch_log_floor_caps_a_certainly_wrong_prediction_at_exactly_100():
    assert ev("bce", CERTAINLY_WRONG, policies={"log_floor": -100.0}).value == 100.0


def test_bce_with_keras_prob_clip_costs_minus_log_of_the_clip():
    assert ev("bce", CERTAINLY_WRONG, policies={"prob_clip": 1e-7}).value == -math.log(1e-7)


def test_bce_without_policies_costs_infinity_for_a_certainly_wrong_prediction():
    assert ev("bce", CERTAINLY_WRONG).value == math.inf


def test_bce_with_torch_grad_floor_divides_by_the_floor_at_a_certain_prediction():
    out = ev("bce", CERTAINLY_WRONG, reduction="sum", policies={"grad_floor": 1e-12})
    assert out.grads["input"][0][0] == -1.0 / 1e-12


CERTAINLY_RIGHT = {"input": np.array([0.0, 1.0]), "target": np.array([0.0, 1.0])}


# Regressions: at commit 223c1df, 0.0 * -inf (log 0) and 0.0 * inf (1 / 0) made these NaN.
def test_bce_of_a_certainly_right_prediction_costs_zero():
    np.testing.assert_array_equal(ev("bce", CERTAINLY_RIGHT, reduction="none").value, [0.0, 0.0])


def test_bce_gradient_at_a_certainly_right_prediction_is_finite():
    # d/dx -log(1 - x) = 1 at x = 0; d/dx -log(x) = -1 at x = 1
    np.testing.assert_array_equal(ev("bce", CERTAINLY_RIGHT, reduction="sum").grads["input"][0], [1.0, -1.0])


def test_cross_entropy_ignores_a_masked_minus_infinity_logit_the_target_puts_no_mass_on():
    x = np.array([[0.0, -math.inf, math.log(3.0)]])
    out = ev("cross_entropy", {"input": x, "target": np.array([2])}, reduction="sum")
    assert out.value == pytest.approx(math.log(4.0 / 3.0), rel=1e-15)
    np.testing.assert_allclose(out.grads["input"][0], [[0.25, 0.0, -0.25]], rtol=1e-15)


def test_an_infinite_class_weight_costs_nothing_where_no_row_uses_its_class():
    """Found by the derived edge cases: w * q with w = inf and q = 0 was NaN (0 * inf),
    though without smoothing a row's loss is w[y] (-log p_y) and w of another class
    does not enter it."""
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -2.0]])
    ev = reference.evaluate("cross_entropy", {"input": x, "target": np.array([2, 1]),
                                              "weight": np.array([np.inf, 2.0, 1.0])}, {}, "none")
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(ev.value, [-log_p[0, 2], -2.0 * log_p[1, 1]], rtol=1e-15)
    assert np.isfinite(ev.grads["input"][0]).all()
