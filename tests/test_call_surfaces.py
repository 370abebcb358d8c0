"""The modes that change what is called rather than how it runs (conformance/vocab/modes.py):
torch's nn.Module surface, torch.autocast and its documented output dtype, and the
forward mode (forward-mode gradients, and a Hessian-vector product judged against the
oracle's gradient differentiated in float64, conformance/hessian.py). Each agrees on
ordinary inputs, and each has a broken version that the check catches."""
from __future__ import annotations

import numpy as np
import pytest

from adapters.base import Output, hvp_direction
from conformance import frameworks, hessian
from conformance.check import check
from conformance.commands.listing import modes_text
from conformance.vocab.modes import MODE_TABLE, MODES
import installed
from fakes import Fake, case, exact

X = [[1.0, 2.0, -0.5], [0.25, 3.0, 1.5]]
Y = [[0.5, -1.0, 0.25], [0.0, 2.0, 1.0]]
MSE = case("mse", {"input": X, "target": Y})
CE = case("cross_entropy", {"input": [[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]], "target": np.array([0, 2])},
          params={"label_smoothing": 0.125})
CE_W = case("cross_entropy", {"input": [[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]], "target": np.array([0, 2]),
                              "weight": [0.5, 2.0, 1.0]}, "mean", variant="weight")
TRIPLET = case("triplet_margin", {"anchor": X, "positive": Y, "negative": [[0.0, 1.0, 1.0], [2.0, -1.0, 0.5]]},
               "sum", params={"margin": 1.0, "p": 2.0})




def _agree(records, mode):
    assert records and {r.mode for r in records} == {mode}
    assert all(r.outcome == "agree" for r in records), [(r.check, r.outcome, r.detail) for r in records]


def test_every_mode_has_a_kind_and_every_adapter_names_or_explains_each_mode():
    assert {m.kind for m in MODE_TABLE.values()} == {"execution", "surface", "precision", "differentiation"}
    text = modes_text([frameworks.get(n) for n in ("numpy", "torch", "jax", "tensorflow")])
    for mode in MODES:
        lines = [line for line in text.splitlines() if line.startswith(f"    {mode} ")]
        assert len(lines) == 4, (mode, lines)          # one per framework: what runs, or why not
        assert all(line.split(None, 1)[1].strip() for line in lines)


# ------------------------------------------------------------------ torch's nn.Module surface
@pytest.mark.parametrize("c", [MSE, CE, CE_W, TRIPLET], ids=["mse", "ce-smoothing", "ce-weight", "triplet"])
def test_torch_modules_agree_with_the_oracle_and_the_functional_call(c):
    _agree(check(c, installed.adapter("torch"), "cpu", "float32", "module"), "module")


def test_the_module_surface_really_calls_the_module(monkeypatch):
    """A module that computes something else is caught: the surface is not F in disguise."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.nn.MSELoss, "forward", lambda self, input, target: 2 * torch.nn.functional.mse_loss(input, target))
    by_check = {r.check: r.outcome for r in check(MSE, installed.adapter("torch"), "cpu", "float32", "module")}
    assert by_check["value"] == "mismatch" and by_check["mode:value"] == "mode-mismatch"


def test_a_loss_torch_composes_has_no_module_surface():
    c = case("cosine_similarity", {"input": X, "target": Y}, "mean")
    records = check(c, installed.adapter("torch"), "cpu", "float32", "module")
    assert [(r.outcome, r.mode) for r in records] == [("unsupported", "module")]
    assert "no nn.Module" in records[0].detail


# ------------------------------------------------------------------ torch.autocast
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_autocast_returns_the_documented_float32_and_the_plain_float32_value(dtype):
    records = check(MSE, installed.adapter("torch"), "cpu", dtype, "autocast")
    _agree(records, "autocast")
    assert [r.detail for r in records if r.check == "mode:dtype"] == ["autocast returns float32, as documented"]


def test_a_loss_outside_autocasts_lists_is_unsupported_and_a_wrong_dtype_is_a_mode_mismatch(monkeypatch):
    from adapters.torch import surfaces
    c = case("gaussian_nll", {"input": X, "target": Y, "var": [[1.0, 2.0, 0.5], [0.25, 3.0, 1.5]]}, "mean")
    torch_adapter = installed.adapter("torch")
    records = check(c, torch_adapter, "cpu", "bfloat16", "autocast")
    assert [r.outcome for r in records] == ["unsupported"] and "none of autocast's op lists" in records[0].detail
    # were gaussian_nll_loss documented in the float32 list, its bfloat16 result would be caught
    monkeypatch.setattr(surfaces, "AUTOCAST_TO_FLOAT32", surfaces.AUTOCAST_TO_FLOAT32 | {"gaussian_nll_loss"})
    by_check = {r.check: r for r in check(c, torch_adapter, "cpu", "bfloat16", "autocast")}
    assert by_check["mode:dtype"].outcome == "mode-mismatch"
    assert "returned bfloat16" in by_check["mode:dtype"].detail


# ------------------------------------------------------------------ forward mode and H v
@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("c", [MSE, CE, TRIPLET], ids=["mse", "ce", "triplet"])
def test_forward_mode_gradients_and_hessian_vector_products_agree(framework, c):
    records = check(c, installed.adapter(framework), "cpu", "float32", "forward")
    _agree(records, "forward")
    assert any(r.check.startswith("hvp:") for r in records)


def test_the_oracles_hessian_vector_product_of_a_quadratic_is_exact_and_a_kink_has_none():
    v = hvp_direction((2, 3), "input")
    product = hessian.hvp(MSE, MSE.arrays, "input", v)
    np.testing.assert_allclose(product.value, 2 * v / 6, rtol=1e-9)
    assert np.all(product.error < 1e-8)
    kink = case("squared_hinge", {"input": [[1.0, 0.5]], "target": [[1.0, 1.0]]}, "sum")
    assert "kink" in hessian.hvp(kink, kink.arrays, "input", hvp_direction((1, 2), "input")).why
    corner = case("l1", {"input": [0.0, 1.0], "target": [0.0, 0.0]}, "sum")
    assert hessian.hvp(corner, corner.arrays, "input", hvp_direction((2,), "input")).value is None


class WrongCurvature(Fake):
    """Right values and gradients; a Hessian-vector product off by a factor."""
    modes = {"forward": "fake forward"}

    def __init__(self, factor):
        super().__init__({"mse": exact("mse")})
        self.factor = factor

    def _prepare(self, recipe, arrays, params, reduction, dtype, device, wrt, mode=None):
        def call():
            out = Fake._run(self, recipe, arrays, params, reduction, dtype, device, wrt)
            if mode != "forward":
                return out
            v = {n: hvp_direction(np.shape(arrays[n]), n) for n in wrt}
            return Output(out.value, out.grads, hvp={n: self.factor * 2 * v[n] / np.size(arrays[n]) for n in wrt})
        return call


def test_a_wrong_hessian_vector_product_is_a_mismatch_and_the_right_one_agrees():
    right = {r.check: r.outcome for r in check(MSE, WrongCurvature(1.0), "cpu", "float32", "forward")}
    assert right["hvp:input"] == "agree" and right["hvp:target"] == "agree"
    wrong = {r.check: r.outcome for r in check(MSE, WrongCurvature(1.001), "cpu", "float32", "forward")}
    assert wrong["hvp:input"] == "mismatch" and wrong["value"] == "agree"


def test_a_recipe_without_a_forward_mode_rule_is_unsupported_with_the_frameworks_words():
    """torch's focal recipes use an autograd.Function with a backward only."""
    c = case("binary_focal", {"input": X, "target": [[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]]}, "mean")
    records = check(c, installed.adapter("torch"), "cpu", "float32", "forward")
    assert [r.outcome for r in records] == ["unsupported"], [(r.check, r.outcome, r.detail) for r in records]
    assert "forward" in records[0].detail


def test_the_spread_matcher_explains_a_spread_nan_and_not_a_local_one():
    """forward mode's 0 * inf: NaN where the reference is finite, with a non-finite value to
    spread. A NaN where the reference is NaN too, or one with nothing non-finite about, is
    not this finding."""
    from conformance.vocab.findings import by_id
    from conformance.vocab.records import Record
    finding = by_id("jax-forward-mode-spreads-a-nonfinite-derivative")
    c = case("mse", {"input": [np.nan, 3.0], "target": [1.0, 1.0]}, "sum")

    def record(expected, actual, inputs=c):
        r = Record.from_json({"case": inputs.id, "framework": "jax", "loss": "mse", "variant": "plain",
                              "reduction": "sum", "origin": "edge", "device": "cpu", "dtype": "float32",
                              "mode": "forward", "check": "grad:input", "outcome": "nonfinite-mismatch",
                              "expected": {"dtype": "float64", "shape": [2], "data": expected},
                              "actual": {"dtype": "float64", "shape": [2], "data": actual}})
        return finding.explains(r, inputs)
    assert record(["nan", 4.0], ["nan", "nan"])                 # the 4 became NaN: spread
    assert not record(["nan", 4.0], ["nan", 4.5])               # no spread (a plain mismatch)
    finite = case("mse", {"input": [2.0, 3.0], "target": [1.0, 1.0]}, "sum")
    assert not record([2.0, 4.0], ["nan", 4.0], finite)         # nothing non-finite to spread
