"""The keras surface of the TensorFlow adapter (adapters/tensorflow/keras_classes.py): each
loss through its Keras class with Keras's reductions, against the oracle and against the
plain call, with real TensorFlow (skipped where it is not installed)."""
from __future__ import annotations

import numpy as np
import pytest

from conformance.check import check
import installed
from fakes import case

X = [[1.0, 2.0, -0.5], [0.25, 3.0, 1.5]]
T = [[0.5, -1.0, 0.25], [0.0, 2.0, 1.0]]
P = [[0.2, 0.7, 0.4], [0.9, 0.05, 0.5]]            # probabilities
B = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.25]]            # binary (soft) targets
ROWS = [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]          # probability rows
REDUCTIONS = ("none", "sum", "mean")

ORDINARY = {
    "mse": ({"input": X, "target": T}, {}),
    "huber": ({"input": X, "target": T}, {"delta": 0.5}),
    "log_cosh": ({"input": X, "target": T}, {}),
    "bce": ({"input": P, "target": B}, {}),
    "bce-weight": ({"input": P, "target": B, "weight": [[1.0, 2.0, 0.5], [0.25, 1.0, 3.0]]}, {}),
    "bce_with_logits": ({"input": X, "target": B}, {}),
    "binary_focal": ({"input": X, "target": B}, {"gamma": 1.5, "alpha": 0.25}),
    "cross_entropy-indices": ({"input": X, "target": np.array([0, 2])}, {}),
    "cross_entropy-ignored": ({"input": X + [[0.0, 1.0, 2.0]], "target": np.array([0, 1, 2])}, {"ignore_index": 1}),
    "cross_entropy-probabilities": ({"input": X, "target": ROWS}, {}),
    "categorical_focal": ({"input": X, "target": ROWS}, {"gamma": 2.0}),
    "categorical_hinge": ({"input": X, "target": [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]}, {}),
    "cosine_similarity": ({"input": X, "target": T}, {}),
    "hinge": ({"input": X, "target": [[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]]}, {}),
    "kl_div": ({"input": np.log(ROWS), "target": [[0.1, 0.6, 0.3], [0.3, 0.3, 0.4]]}, {}),
    "poisson_nll": ({"input": [[0.5, 2.0, 1.5], [3.0, 0.25, 1.0]], "target": [[0.0, 1.0, 2.0], [3.0, 0.0, 1.0]]},
                    {"log_input": False}),
    "dice": ({"input": P, "target": [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]}, {}),
}


@pytest.fixture(scope="module")
def tf_adapter():
    return installed.adapter("tensorflow")


def _case(name: str, reduction: str):
    arrays, params = ORDINARY[name]
    return case(name.split("-")[0], arrays, reduction, params)


def _failures(records):
    return [(r.check, r.outcome, r.detail) for r in records if r.outcome not in ("agree", "documented")]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_the_surface_agrees_with_the_oracle_and_the_plain_call(tf_adapter, name, reduction):
    records = check(_case(name, reduction), tf_adapter, "cpu", "float32", "keras")
    assert {r.mode for r in records} == {"keras"}
    assert "value" in {r.check for r in records} and any(r.check.startswith("grad:") for r in records)
    assert not _failures(records), _failures(records)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_the_surface_computes_in_the_case_dtype(tf_adapter, dtype):
    """dtype= goes to the class: float64 is not rounded to floatx (float32), half precision is half."""
    records = check(_case("mse", "mean"), tf_adapter, "cpu", dtype, "keras")
    assert not _failures(records), _failures(records)
    if dtype == "float64":
        assert all(r.error_eps == 0 or r.error_eps is None or r.error_eps < 4 for r in records)


def test_kl_div_batchmean_is_keras_own_reduction_of_its_row_sums(tf_adapter):
    records = check(_case("kl_div", "batchmean"), tf_adapter, "cpu", "float32", "keras")
    assert not _failures(records), _failures(records)


@pytest.mark.parametrize("shape", [(2, 3), (3,), ()])
def test_the_trailing_axis_gives_none_the_oracle_shape(tf_adapter, shape):
    rng = np.random.default_rng(0)
    c = case("mse", {"input": rng.normal(size=shape), "target": rng.normal(size=shape)}, "none")
    out = tf_adapter.run(c, c.arrays, "float64", "cpu", ("input",), mode="keras")
    assert out.value.shape == shape and out.grads["input"].shape == shape
    np.testing.assert_allclose(out.value, (c.arrays["input"] - c.arrays["target"]) ** 2, rtol=1e-15)


def test_the_value_is_what_the_keras_class_returns(tf_adapter):
    import keras
    import tensorflow as tf
    c = _case("huber", "sum")
    out = tf_adapter.run(c, c.arrays, "float32", "cpu", (), mode="keras")
    x, y = (tf.constant(np.asarray(c.arrays[n], np.float32)) for n in ("input", "target"))
    expected = keras.losses.Huber(delta=0.5, reduction="sum", dtype="float32")(y[..., None], x[..., None])
    assert out.value == np.float64(expected.numpy())


def test_a_class_that_returns_something_else_fails_the_check(tf_adapter, monkeypatch):
    """The surface calls keras.losses.<Class> and hands back its output as it is: a class that
    returns twice the loss gives a failing value against the oracle and against the plain call
    (whose 'none' is composed from tf ops, not from the class)."""
    import keras

    class Doubled(keras.losses.MeanSquaredError):
        def call(self, y_true, y_pred):
            return 2.0 * super().call(y_true, y_pred)

    monkeypatch.setattr(keras.losses, "MeanSquaredError", Doubled)
    by_check = {r.check: r for r in check(_case("mse", "none"), tf_adapter, "cpu", "float32", "keras")}
    assert by_check["value"].outcome == "mismatch"
    assert by_check["mode:value"].outcome == "mode-mismatch"
    assert by_check["grad:input"].outcome == "mismatch"


@pytest.mark.parametrize("name,reduction,why", [
    ("cross_entropy", "mean", "take no class weights"),
    ("bce_with_logits", "sum", "has no pos_weight"),
    ("cosine_similarity", "none", "form='distance'"),
    ("poisson_nll", "mean", "log_input=True"),
    ("dice", "mean", "has no smoothing term"),
    ("kl_div", "batchmean", "rank > 2"),
])
def test_a_variant_the_class_cannot_express_is_unsupported_with_the_reason(tf_adapter, name, reduction, why):
    arrays = {"input": X, "target": T}
    params = {}
    if name == "cross_entropy":
        arrays = {"input": X, "target": np.array([0, 2]), "weight": [1.0, 2.0, 3.0]}
    elif name == "bce_with_logits":
        arrays = {"input": X, "target": B, "pos_weight": [1.0, 2.0, 3.0]}
    elif name == "cosine_similarity":
        params = {"form": "distance"}
    elif name == "dice":
        arrays, params = {"input": P, "target": B}, {"smooth": 1.0}
    elif name == "kl_div":
        arrays = {"input": np.log(np.full((2, 3, 2), 0.5)), "target": np.full((2, 3, 2), 0.5)}
    records = check(case(name, arrays, reduction, params), tf_adapter, "cpu", "float32", "keras")
    assert [(r.outcome, r.mode) for r in records] == [("unsupported", "keras")]
    assert why in records[0].detail, records[0].detail


@pytest.mark.parametrize("loss", ["smooth_l1", "nll", "ctc", "gaussian_nll", "ntxent"])
def test_a_loss_keras_has_no_class_for_is_unsupported_with_the_reason(tf_adapter, loss):
    reason = tf_adapter.mode_unsupported("keras", loss)
    assert reason and "keras" in reason.lower()
    assert tf_adapter.mode_unsupported("keras", "mse") is None
    assert tf_adapter.mode_unsupported("keras") is None


def test_list_names_the_reason(capsys):
    from conformance.cli import main
    assert main(["list", "smooth_l1"]) == 0
    assert "keras     unsupported: keras.losses has no smooth L1 loss" in capsys.readouterr().out


# ------------------------------------------------------------- sample weights (hand-made cases)

W = [[1.0, 0.5, 2.0], [0.0, 3.0, 0.25]]


@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "weighted_mean"])
def test_a_sample_weight_is_passed_to_keras_and_weighted_mean_is_mean_with_sample_weight(tf_adapter, reduction):
    c = case("mse", {"input": X, "target": T, "sample_weight": W}, reduction)
    out = tf_adapter.run(c, c.arrays, "float64", "cpu", ("input",), mode="keras")
    w, terms = np.asarray(W), (np.asarray(X) - np.asarray(T)) ** 2
    expected = {"none": w * terms, "sum": (w * terms).sum(), "mean": (w * terms).sum() / terms.size,
                "weighted_mean": (w * terms).sum() / w.sum()}[reduction]
    np.testing.assert_allclose(out.value, expected, rtol=1e-14)
    grad = {"none": w, "sum": w, "mean": w / terms.size, "weighted_mean": w / w.sum()}[reduction]
    np.testing.assert_allclose(out.grads["input"], grad * 2 * (np.asarray(X) - np.asarray(T)), rtol=1e-14)


def test_an_unbatched_sample_weight_keeps_the_terms_shape(tf_adapter):
    """The weight is not given the trailing axis: Keras would expand (D,) losses to (D, 1) against it."""
    c = case("l1", {"input": X[0], "target": T[0], "sample_weight": W[0]}, "none")
    out = tf_adapter.run(c, c.arrays, "float64", "cpu", (), mode="keras")
    np.testing.assert_allclose(out.value, np.asarray(W[0]) * np.abs(np.asarray(X[0]) - np.asarray(T[0])))


def test_a_row_loss_takes_one_sample_weight_per_row(tf_adapter):
    x, t, w = X + [[0.0, 1.0, 2.0]], np.array([0, -100, 2]), [2.0, 5.0, 0.5]
    c = case("cross_entropy", {"input": x, "target": t, "sample_weight": w}, "weighted_mean")
    out = tf_adapter.run(c, c.arrays, "float64", "cpu", (), mode="keras")
    logp = np.asarray(x) - np.log(np.exp(np.asarray(x)).sum(1, keepdims=True))
    terms = -logp[[0, 2], [0, 2]]
    # Keras merges the ignored row's mask into the weights: sum w l / sum of the counted rows' w
    np.testing.assert_allclose(out.value, (2.0 * terms[0] + 0.5 * terms[1]) / 2.5, rtol=1e-14)


def test_bce_weight_is_keras_sample_weight(tf_adapter):
    """BCE's element weight is Keras's sample_weight: agreeing with the plain call, which multiplies it in."""
    for reduction in REDUCTIONS:
        arrays = {"input": P, "target": B, "weight": [0.5, 2.0, 1.0]}     # broadcast along the rows
        records = check(case("bce", arrays, reduction, variant="weight"), tf_adapter, "cpu", "float32", "keras")
        assert not _failures(records), (reduction, _failures(records))


# ------------------------------------------------------------- Keras's discrepancies, as found

@pytest.mark.parametrize("arrays,reduction,check_name,finding", [
    ({"input": np.zeros((2, 3, 4)), "target": np.zeros((2, 4), np.int64)}, "sum", "value",
     "keras-sparse-categorical-crossentropy-refuses-axis-1"),
    ({"input": np.zeros((0, 3)), "target": np.zeros((0,), np.int64)}, "sum", "value",
     "keras-classes-empty-batch-not-reduced"),
])
def test_keras_discrepancies_are_failing_records_their_findings_explain(tf_adapter, arrays, reduction, check_name,
                                                                           finding):
    by_check = {r.check: r for r in check(case("cross_entropy", arrays, reduction, variant="edge"), tf_adapter,
                                          "cpu", "float32", "keras")}
    assert by_check[check_name].failing and by_check[check_name].finding == finding, by_check[check_name]


def test_an_all_ignored_mean_is_undefined_and_keras_zero_is_shown_not_failed(tf_adapter):
    """0/0 has no right answer: Keras's divide_no_nan 0 and the plain call's NaN are both
    shown (the report's undefined table), and the mode comparison does not judge them."""
    c = case("cross_entropy", {"input": [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], "target": np.array([-100, -100])},
             "mean", variant="edge")
    by_check = {r.check: r for r in check(c, tf_adapter, "cpu", "float32", "keras")}
    assert by_check["value"].outcome == "undefined" and "returns 0" in by_check["value"].detail
    assert "mode:value" not in by_check
