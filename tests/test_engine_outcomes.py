"""engine.check produces every outcome but crash and timeout (those come from the worker
processes: tests/test_robustness.py), driven by
fake adapters: the oracle's formulas (reference.call) in float64 on the values the engine
hands over, correctly rounded to the dtype, then broken on purpose in one precise way."""
from __future__ import annotations

import math

import numpy as np
import pytest

import reference
from adapters.base import Output, Policy, Recipe
from conformance.vocab.case import Case
from conformance.vocab.records import OUTCOMES, Record
from conformance.vocab.dtypes import round_to
from conformance.engine import check
from conformance.vocab.tolerance import for_dtype
from fakes import Fake, case, correct, exact

FROM_WORKERS = {"crash", "timeout"}
RECORD_KEYS = {"case", "loss", "variant", "reduction", "origin", "framework", "device", "dtype",
               "check", "outcome", "error_eps", "detail"}


MSE = case("mse", {"input": [1.0, 2.0, -0.5], "target": [0.5, -1.0, 0.25]})
L1 = case("l1", {"input": [1.0, 2.0], "target": [0.5, -1.0]}, "sum")
L1_NAN = case("l1", {"input": [1.0, math.nan], "target": [0.5, -1.0]}, "none")
BCE_AT_ZERO = case("bce", {"input": [0.0, 0.5], "target": [1.0, 1.0]})
X = [[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]]
CE_OUT_OF_RANGE = case("cross_entropy", {"input": X, "target": np.array([0, 5])})
CE_SMOOTHED = case("cross_entropy", {"input": X, "target": np.array([0, 2])},
                   params={"label_smoothing": 0.1}, variant="label_smoothing")
CE_IGNORED = case("cross_entropy", {"input": [[0.5, -1.0, 2.0], [3.0, 1.0, -2.0], [1.5, 0.0, -0.25]],
                                    "target": np.array([1, -100, 2])},
                  params={"ignore_index": -100}, variant="ignore_index")

CE_ALL_IGNORED = case("cross_entropy", {"input": X, "target": np.array([-100, -100])},
                      params={"ignore_index": -100}, variant="ignore_index")
zero_for_nan = lambda value, grads: (np.zeros_like(value), grads)  # noqa: E731

TORCH_LIKE_FLOOR = Policy(knobs={"log_floor": -100.0}, citation="https://example.org/bce#clamp",
                          summary="log clamped at -100")
NO_CHECKS = Policy(knobs={}, citation="https://example.org/ce#unchecked",
                   summary="class indices are not checked at run time")


# The deliberate bugs: ``before`` edits inputs, ``after`` edits (value, grads).
def clip_classes(arrays):  # computes on out-of-range class indices instead of refusing
    arrays["target"] = np.clip(arrays["target"], 0, np.shape(arrays["input"])[1] - 1)
    return arrays


def raise_runtime(arrays):
    raise RuntimeError("kernel refused the input")


def scale_value(factor):
    return lambda value, grads: (value * factor, grads)


flip_gradients = lambda value, grads: (value, {n: -g for n, g in grads.items()})  # noqa: E731
nan_value = lambda value, grads: (np.full_like(value, math.nan), grads)  # noqa: E731
finite_instead_of_nan = lambda value, grads: (np.nan_to_num(value, nan=0.0), grads)  # noqa: E731


def leak_into_row(row: int, amount: float):
    def after(value, grads):
        grads["input"][row] += amount
        return value, grads
    return after


def unsupported_when_smoothed(c: Case) -> str | None:
    return "label smoothing is not implemented" if c.params.get("label_smoothing") else None


class TwoDevices(Fake):
    """cpu: the exact formulas; cuda: the same, then ``on_cuda`` edits (value, grads)."""

    def __init__(self, recipes, on_cuda) -> None:
        super().__init__(recipes, devices=("cpu", "cuda"))
        self.on_cuda = on_cuda

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Output:
        out = super()._run(recipe, arrays, params, reduction, dtype, device, wrt)
        if device != "cuda":
            return out
        value, grads = self.on_cuda(out.value, dict(out.grads))
        return Output(value, grads)


def apart_on_cuda() -> TwoDevices:
    """Within the oracle's tolerance on each device (cpu -10, cuda +10 eps of the oracle's
    scale), 20 apart from each other: beyond k = 16."""
    from conformance.oracle import oracle
    step = 10 * 2.0**-23 * float(oracle(MSE, "float32").evaluation.scale)   # condition + accumulation
    return TwoDevices({"mse": exact("mse", after=lambda v, g: (v - step, g))}, lambda v, g: (v + 2 * step, g))


class TwoModes(Fake):
    """default (eager): the exact formulas; compiled: the same, then ``when_compiled``
    edits (value, grads); 'graph' it lacks."""
    modes = {"compiled": "fake.compile(loss)"}

    def __init__(self, recipes, when_compiled) -> None:
        super().__init__(recipes)
        self.when_compiled = when_compiled
        self.calls: list[str | None] = []

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Output:
        self.calls.append(None)
        return super()._run(recipe, arrays, params, reduction, dtype, device, wrt)

    def _prepare(self, recipe, arrays, params, reduction, dtype, device, wrt, mode=None):
        def call() -> Output:
            self.calls.append(mode)
            out = Fake._run(self, recipe, arrays, params, reduction, dtype, device, wrt)
            if mode != "compiled":
                return out
            value, grads = self.when_compiled(out.value, dict(out.grads), arrays)
            return Output(value, grads)
        return call


class CompiledClipsClasses(TwoModes):
    """TensorFlow's XLA: a value for an out-of-range class, where the eager ops raise."""

    def __init__(self) -> None:
        super().__init__({"cross_entropy": exact("cross_entropy", before=clip_classes)}, lambda v, g, a: (v, g))

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Output:
        if np.max(arrays["target"]) >= np.shape(arrays["input"])[1]:
            raise IndexError("class index out of range")
        return super()._run(recipe, arrays, params, reduction, dtype, device, wrt)


def apart_when_compiled() -> TwoModes:
    """Within the oracle's tolerance in each mode (eager -10, compiled +10 eps of the
    oracle's scale), 20 apart from each other: beyond k = 16."""
    from conformance.oracle import oracle
    step = 10 * 2.0**-23 * float(oracle(MSE, "float32").evaluation.scale)
    return TwoModes({"mse": exact("mse", after=lambda v, g: (v - step, g))}, lambda v, g, a: (v + 2 * step, g))


def refuse_when_compiled(value, grads, arrays):
    raise RuntimeError("compiled kernel: index out of bounds")


# (id, adapter, case, device, dtype, check, outcome[, mode])
SCENARIOS = [
    ("a_correct_adapter_agrees", correct("mse"), MSE, "cpu", "float32", "value", "agree"),
    ("a_declared_log_floor_is_documented",
     Fake({"bce": exact("bce", {"log_floor": -100.0})}, policies={"bce": TORCH_LIKE_FLOOR}),
     BCE_AT_ZERO, "cpu", "float32", "value", "documented"),
    ("the_same_floor_undeclared_is_a_nonfinite_mismatch", Fake({"bce": exact("bce", {"log_floor": -100.0})}),
     BCE_AT_ZERO, "cpu", "float32", "value", "nonfinite-mismatch"),
    ("a_value_off_by_relative_1e_3_is_a_mismatch", Fake({"mse": exact("mse", after=scale_value(1 + 1e-3))}),
     MSE, "cpu", "float32", "value", "mismatch"),
    ("a_gradient_with_a_flipped_sign_is_a_mismatch", Fake({"mse": exact("mse", after=flip_gradients)}),
     MSE, "cpu", "float32", "grad:input", "mismatch"),
    ("nan_for_a_finite_value_is_a_nonfinite_mismatch", Fake({"l1": exact("l1", after=nan_value)}),
     L1, "cpu", "float64", "value", "nonfinite-mismatch"),
    ("a_finite_value_for_a_nan_is_a_nonfinite_mismatch", Fake({"l1": exact("l1", after=finite_instead_of_nan)}),
     L1_NAN, "cpu", "float32", "value", "nonfinite-mismatch"),
    ("raising_on_valid_input_is_an_error_mismatch", Fake({"mse": exact("mse", before=raise_runtime)}),
     MSE, "cpu", "float32", "value", "error-mismatch"),
    ("a_value_where_the_oracle_refuses_is_an_error_mismatch",
     Fake({"cross_entropy": exact("cross_entropy", before=clip_classes)}),
     CE_OUT_OF_RANGE, "cpu", "float32", "value", "error-mismatch"),
    ("both_refusing_agrees", correct("cross_entropy"), CE_OUT_OF_RANGE, "cpu", "float32", "value", "agree"),
    ("a_value_where_the_oracle_refuses_is_documented_by_unchecked_values",
     Fake({"cross_entropy": exact("cross_entropy", before=clip_classes)}, unchecked=NO_CHECKS),
     CE_OUT_OF_RANGE, "cpu", "float32", "value", "documented"),
    ("an_absent_recipe_is_unsupported", correct("l1"), MSE, "cpu", "float32", "value", "unsupported"),
    ("a_recipe_declaring_the_case_unsupported_is_unsupported",
     Fake({"cross_entropy": Recipe(exact("cross_entropy").fn, "fake.ce", unsupported=unsupported_when_smoothed)}),
     CE_SMOOTHED, "cpu", "float32", "value", "unsupported"),
    ("a_gpu_result_apart_from_the_cpu_result_is_a_device_mismatch", apart_on_cuda(), MSE, "cuda", "float32",
     "device:value", "device-mismatch"),
    ("a_device_the_adapter_lacks_is_unsupported", correct("mse"), MSE, "cuda", "float32", "value", "unsupported"),
    ("a_mean_of_0_over_0_is_undefined_whatever_is_returned",
     Fake({"cross_entropy": exact("cross_entropy", after=zero_for_nan)}),
     CE_ALL_IGNORED, "cpu", "float32", "value", "undefined"),
    ("a_leak_into_an_ignored_row_gradient_is_a_mismatch",
     Fake({"cross_entropy": exact("cross_entropy", after=leak_into_row(1, 1e-3))}),
     CE_IGNORED, "cpu", "float32", "grad:input", "mismatch"),
    ("a_compiled_result_apart_from_the_plain_call_is_a_mode_mismatch", apart_when_compiled(), MSE, "cpu",
     "float32", "mode:value", "mode-mismatch", "compiled"),
    ("a_mode_the_adapter_lacks_is_unsupported", apart_when_compiled(), MSE, "cpu", "float32", "value",
     "unsupported", "graph"),
]


def records_by_check(adapter, c, device, dtype, mode=None) -> dict[str, Record]:
    records = check(c, adapter, device, dtype, mode)
    assert len({r.check for r in records}) == len(records), "one record per check"
    return {r.check: r for r in records}


@pytest.mark.parametrize("adapter,c,device,dtype,check_name,outcome,mode",
                         [(*s[1:], None)[:7] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_scenario_gives_its_outcome(adapter, c, device, dtype, check_name, outcome, mode):
    r = records_by_check(adapter, c, device, dtype, mode)[check_name]
    assert r.outcome == outcome, r.detail
    assert RECORD_KEYS <= set(r.to_json())
    assert (r.case, r.framework, r.device, r.dtype, r.mode) == (c.id, "fake", device, dtype, mode)


def test_the_scenarios_cover_every_outcome_the_engine_produces_today():
    assert {s[6] for s in SCENARIOS} == set(OUTCOMES) - FROM_WORKERS


def test_a_correct_adapter_agrees_on_every_check_in_every_dtype():
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        records = check(MSE, correct("mse"), "cpu", dtype)
        assert [r.check for r in records] == ["value", "grad:input", "grad:target"]
        assert {r.outcome for r in records} == {"agree"}, dtype


def test_a_documented_policy_record_cites_it_and_measures_both_errors():
    adapter = Fake({"bce": exact("bce", {"log_floor": -100.0})}, policies={"bce": TORCH_LIKE_FLOOR})
    r = records_by_check(adapter, BCE_AT_ZERO, "cpu", "float32")["value"]
    assert r.citation == TORCH_LIKE_FLOOR.citation
    assert "log clamped at -100" in r.detail and "the mathematics" in r.detail
    assert r.policy_error_eps <= 16
    assert r.policy_expected["data"] == [pytest.approx((100 + math.log(2)) / 2, rel=1e-6)]


def test_a_declared_policy_does_not_excuse_a_value_that_misses_the_policy_too():
    adapter = Fake({"bce": exact("bce", {"log_floor": -50.0})}, policies={"bce": TORCH_LIKE_FLOOR})
    value = records_by_check(adapter, BCE_AT_ZERO, "cpu", "float32")["value"]
    # judged against what the framework promises (100), its 50 is a plain mismatch
    assert value.outcome == "mismatch" and "beyond its documented policy" in value.detail


def test_a_mismatch_records_the_error_in_eps_units_beyond_k():
    adapter = Fake({"mse": exact("mse", after=scale_value(1 + 1e-3))})
    r = records_by_check(adapter, MSE, "cpu", "float32")["value"]
    assert isinstance(r.error_eps, float) and r.error_eps > 16 * 10
    assert r.expected != r.actual


def test_a_flipped_gradient_leaves_the_value_agreeing():
    by_check = records_by_check(Fake({"mse": exact("mse", after=flip_gradients)}), MSE, "cpu", "float32")
    assert by_check["value"].outcome == "agree"
    assert by_check["grad:input"].outcome == by_check["grad:target"].outcome == "mismatch"


def test_a_refusal_of_valid_input_records_what_was_raised():
    adapter = Fake({"mse": exact("mse", before=raise_runtime)})
    (r,) = check(MSE, adapter, "cpu", "float32")
    assert "RuntimeError: kernel refused the input" in r.raised
    assert "refused valid input" in r.detail


class NoHalf(Fake):
    """Claims float64/float32 only and refuses float16 the way a kernel does; its
    backward refuses bfloat16 (the forward runs)."""
    dtypes = ("float64", "float32")

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Output:
        if dtype == "float16":
            raise RuntimeError('"mse_cpu" not implemented for \'Half\'')
        if dtype == "bfloat16" and wrt:
            raise RuntimeError("backward not implemented for 'BFloat16'")
        return super()._run(recipe, arrays, params, reduction, dtype, device, wrt)


def test_an_unclaimed_dtype_that_fails_is_unsupported_with_the_frameworks_own_words():
    (r,) = check(MSE, NoHalf({"mse": exact("mse")}), "cpu", "float16")
    assert r.outcome == "unsupported" and r.claimed is False
    assert "not implemented for 'Half'" in r.raised and "not implemented for 'Half'" in r.detail


def test_a_claimed_dtype_that_fails_is_an_error_mismatch():
    class ClaimsHalf(NoHalf):
        dtypes = ("float64", "float32", "float16")
    (r,) = check(MSE, ClaimsHalf({"mse": exact("mse")}), "cpu", "float16")
    assert r.outcome == "error-mismatch" and r.claimed is True and "Half" in r.raised


def test_a_refused_backward_is_told_from_a_refused_forward():
    by_check = records_by_check(NoHalf({"mse": exact("mse")}), MSE, "cpu", "bfloat16")
    assert by_check["value"].outcome == "agree"
    for name in ("grad:input", "grad:target"):
        assert by_check[name].outcome == "unsupported" and "backward" in by_check[name].detail
        assert "BFloat16" in by_check[name].raised


def test_an_unclaimed_dtype_that_runs_is_judged_like_any_other():
    class Float64Only(Fake):
        dtypes = ("float64",)
    by_check = records_by_check(Float64Only({"mse": exact("mse", after=scale_value(1 + 1e-2))}), MSE,
                                "cpu", "float32")
    assert {r.claimed for r in by_check.values()} == {False}
    assert by_check["value"].outcome == "mismatch"


def test_both_refusing_records_the_oracle_reason_and_the_framework_error():
    (r,) = check(CE_OUT_OF_RANGE, correct("cross_entropy"), "cpu", "float32")
    assert "both refuse" in r.detail and "out of range" in r.detail
    assert "DomainError" in r.raised


def test_an_unchecked_values_policy_is_cited_when_it_excuses_a_value():
    adapter = Fake({"cross_entropy": exact("cross_entropy", before=clip_classes)}, unchecked=NO_CHECKS)
    (r,) = check(CE_OUT_OF_RANGE, adapter, "cpu", "float32")
    assert r.citation == NO_CHECKS.citation and NO_CHECKS.summary in r.detail


def test_unsupported_records_carry_the_reason_and_never_run_the_adapter():
    calls = []
    spy = Recipe(lambda a, p, r: calls.append(1) or (_ for _ in ()).throw(AssertionError("ran")), "fake.spy",
                 unsupported=unsupported_when_smoothed)
    adapter = Fake({"cross_entropy": spy, "mse": spy})
    (smoothed,) = check(CE_SMOOTHED, adapter, "cpu", "float32")
    assert smoothed.detail == "label smoothing is not implemented"
    (cuda,) = check(MSE, adapter, "cuda", "float32")
    assert cuda.outcome == "unsupported" and "cuda" in cuda.detail
    (absent,) = check(L1, adapter, "cpu", "float32")
    assert absent.outcome == "unsupported" and "l1" in absent.detail
    assert calls == []


def test_a_recipe_unsupported_for_one_case_still_runs_the_others():
    recipe = Recipe(exact("cross_entropy").fn, "fake.ce", unsupported=unsupported_when_smoothed)
    plain = case("cross_entropy", {"input": X, "target": np.array([0, 2])})
    assert {r.outcome for r in check(plain, Fake({"cross_entropy": recipe}), "cpu", "float32")} == {"agree"}


# ------------------------------------------------------------- ignored targets

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_an_ignored_row_gets_an_exactly_zero_gradient_from_a_correct_adapter(dtype, reduction):
    c = case("cross_entropy", CE_IGNORED.arrays, reduction, CE_IGNORED.params, "ignore_index")
    assert {r.outcome for r in check(c, correct("cross_entropy"), "cpu", dtype)} == {"agree"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("leak", [1e-3, 1e-20])
def test_a_leak_into_an_ignored_row_gradient_is_caught(dtype, reduction, leak):
    c = case("cross_entropy", CE_IGNORED.arrays, reduction, CE_IGNORED.params, "ignore_index")
    adapter = Fake({"cross_entropy": exact("cross_entropy", after=leak_into_row(1, leak))})
    by_check = records_by_check(adapter, c, "cpu", dtype)
    assert by_check["value"].outcome == "agree"
    assert by_check["grad:input"].outcome == "mismatch"
    assert "at (1, " in by_check["grad:input"].detail


def test_the_same_leak_into_a_counted_row_is_noise_and_agrees():
    adapter = Fake({"cross_entropy": exact("cross_entropy", after=leak_into_row(0, 1e-20))})
    assert records_by_check(adapter, CE_IGNORED, "cpu", "float32")["grad:input"].outcome == "agree"


def test_when_every_row_is_ignored_the_mean_is_undefined_and_the_gradient_still_exactly_zero():
    c = case("cross_entropy", {"input": X, "target": np.array([-100, -100])}, "mean", {"ignore_index": -100})
    good = records_by_check(correct("cross_entropy"), c, "cpu", "float32")
    assert good["value"].actual["data"] == ["nan"] and good["value"].outcome == "undefined"
    assert good["grad:input"].expected["data"] == [0.0] * 6 and good["grad:input"].outcome == "agree"
    nan_grads = Fake({"cross_entropy": exact("cross_entropy", after=lambda v, g: (v, {"input": g["input"] * np.nan}))})
    assert records_by_check(nan_grads, c, "cpu", "float32")["grad:input"].outcome == "nonfinite-mismatch"


# ------------------------------------------- the bound, end to end on a real loss

CE_LARGE_LOGITS = case("cross_entropy", {"input": [[1.0e4, 1.0e4 - 3.0, -2.0e4], [5.0e3, 5.0e3 + 0.5, 0.0]],
                                         "target": np.array([1, 0])}, "sum")


def off_by(eps_units: float, dtype: str):
    """The exact value moved by ``eps_units`` * eps(dtype) * the oracle's scale."""
    arrays = dict(CE_LARGE_LOGITS.arrays) | {"input": round_to(CE_LARGE_LOGITS.arrays["input"], dtype)}
    ev = reference.evaluate("cross_entropy", arrays, {}, "sum")
    shift = eps_units * for_dtype(dtype).eps * float(ev.scale)
    return lambda value, grads: (value + shift, grads)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_few_eps_beyond_the_oracles_bound_is_caught_on_a_real_loss(dtype):
    adapter = Fake({"cross_entropy": exact("cross_entropy", after=off_by(16 + 3, dtype))})
    assert records_by_check(adapter, CE_LARGE_LOGITS, "cpu", dtype)["value"].outcome == "mismatch"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_same_shift_inside_the_bound_agrees(dtype):
    adapter = Fake({"cross_entropy": exact("cross_entropy", after=off_by(16 - 3, dtype))})
    assert records_by_check(adapter, CE_LARGE_LOGITS, "cpu", dtype)["value"].outcome == "agree"


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_real_cancellation_noise_of_a_naive_low_precision_implementation_agrees(dtype):
    """The numpy adapter runs the formulas in the dtype itself: log-sum-exp of logits
    1e4 apart loses everything but the scale's precision, and that is not a finding."""
    from conformance import frameworks
    for r in check(CE_LARGE_LOGITS, frameworks.get("numpy"), "cpu", dtype):
        assert r.outcome == "agree", r


# ------------------------------------------------------------- a second device

def test_a_device_that_agrees_with_the_cpu_adds_no_record():
    adapter = TwoDevices({"mse": exact("mse")}, lambda v, g: (v, g))
    assert {r.check for r in check(MSE, adapter, "cuda", "float32")} == {"value", "grad:input", "grad:target"}


def test_a_device_differing_from_the_cpu_beyond_tolerance_is_a_device_mismatch():
    """Each side within the oracle's tolerance, but 2 x 12 eps apart: only the device
    comparison catches it."""
    by_check = records_by_check(apart_on_cuda(), MSE, "cuda", "float32")
    assert by_check["value"].outcome == "agree"
    assert by_check["device:value"].outcome == "device-mismatch"
    assert "cuda vs cpu" in by_check["device:value"].detail and by_check["device:value"].cpu
    assert "device:grad:input" not in by_check


def test_a_device_only_run_without_a_cpu_is_not_compared():
    adapter = TwoDevices({"mse": exact("mse")}, lambda v, g: (v * 2, g))
    adapter._devices = ("cuda",)
    assert not [r for r in check(MSE, adapter, "cuda", "float32") if r.check.startswith("device:")]


def test_a_device_is_held_to_its_own_cpu_result_and_an_infinite_oracle_scale_does_not_demand_exactness():
    """Found on the H200: where the oracle's scale is infinite (BCE at p = 0, whose
    log torch clamps at -100), one ulp between CUDA and CPU was a device-mismatch."""
    from conformance.check import device_verdict
    from conformance.vocab.tolerance import for_dtype
    f32 = for_dtype("float32")
    same = np.array([np.nan, 1.5, np.inf])
    assert device_verdict(same, same.copy(), np.array([np.inf, 1.0, 1.0]), f32).outcome == "agree"
    cpu, cuda = np.float32(103.637413), np.float32(103.637421)
    assert device_verdict(np.float64(cpu), np.float64(cuda), np.inf, f32).outcome == "agree"
    assert device_verdict(np.float64(cpu), np.float64(cpu) * 1.01, np.inf, f32).outcome == "mismatch"
    assert device_verdict(np.float64(cpu), np.float64(cpu) * 1.01, 100.0, f32).outcome == "mismatch"
    assert device_verdict(np.array([1.0, np.inf]), np.array([1.0, 88.8]), np.inf, f32).outcome == "nonfinite-mismatch"
    # an oracle scale of 0 (an exact answer expected) does not make one ulp between devices a mismatch
    assert device_verdict(np.float64(-0.463572164), np.float64(-0.463572164) * (1 + 2**-52), 0.0,
                          for_dtype("float64")).outcome == "agree"


def test_every_judged_record_carries_its_error_in_ulps_and_a_nudge_of_three_ulps_shows():
    """A result rounded once is within half an ulp; the same result three ulps away still
    agrees (k = 16 eps of the scale) but its ulps say it is less accurate."""
    def nudged(value, grads):
        v = np.asarray(value, np.float64)
        return v + 3 * np.spacing(np.abs(v).astype(np.float32)).astype(np.float64), grads
    exact_records = check(MSE, correct("mse"), "cpu", "float32")
    nudged_records = check(MSE, Fake({"mse": exact("mse", after=nudged)}), "cpu", "float32")
    assert {r.check for r in exact_records} == {"value", "grad:input", "grad:target"}
    assert all(isinstance(r.error_ulp, float) and r.error_ulp <= 0.5 for r in exact_records)
    value = next(r for r in nudged_records if r.check == "value")
    assert value.outcome == "agree" and 2.5 <= value.error_ulp <= 3.5
    refused = check(CE_OUT_OF_RANGE, correct("cross_entropy"), "cpu", "float32")
    assert all(r.error_ulp is None for r in refused)                 # nothing computed to measure


@pytest.mark.parametrize("after", [None, zero_for_nan], ids=["nan", "zero"])
def test_an_undefined_mean_shows_what_the_framework_returns_and_still_checks_the_gradient(after):
    records = records_by_check(Fake({"cross_entropy": exact("cross_entropy", after=after)}), CE_ALL_IGNORED,
                               "cpu", "float32")
    assert records["value"].outcome == "undefined"
    assert "0/0" in records["value"].detail and ("returns 0" in records["value"].detail) == (after is not None)
    assert records["grad:input"].outcome == "agree"           # ignored rows: exactly 0, as before


def test_a_mean_with_terms_is_not_undefined_and_a_sum_over_nothing_is_0():
    ev = reference.evaluate("cross_entropy", {"input": np.array(X), "target": np.array([1, -100])}, {}, "mean")
    assert not ev.undefined and np.isfinite(ev.value)
    assert reference.evaluate("mse", {"input": np.zeros(0), "target": np.zeros(0)}, {}, "sum").undefined == ""
    assert "no terms" in reference.evaluate("mse", {"input": np.zeros(0), "target": np.zeros(0)}, {}, "mean").undefined


# ------------------------------------------------------------- execution modes

def test_a_mode_that_agrees_with_the_plain_call_adds_no_record_and_runs_both():
    adapter = TwoModes({"mse": exact("mse")}, lambda v, g, a: (v, g))
    records = check(MSE, adapter, "cpu", "float32", "compiled")
    assert {r.check for r in records} == {"value", "grad:input", "grad:target"}
    assert {r.mode for r in records} == {"compiled"} and {r.outcome for r in records} == {"agree"}
    assert adapter.calls == ["compiled", None]


def test_the_default_mode_named_is_the_plain_call():
    adapter = TwoModes({"mse": exact("mse")}, lambda v, g, a: (v * 2, g))
    records = check(MSE, adapter, "cpu", "float32", "eager")
    assert {r.mode for r in records} == {None} and {r.outcome for r in records} == {"agree"}
    assert adapter.calls == [None]


def test_a_mode_differing_from_the_plain_call_is_caught_against_both_the_oracle_and_the_plain_call():
    adapter = TwoModes({"mse": exact("mse")}, lambda v, g, a: (v * (1 + 1e-3), g))
    by_check = records_by_check(adapter, MSE, "cpu", "float32", "compiled")
    assert by_check["value"].outcome == "mismatch"
    mode = by_check["mode:value"]
    assert mode.outcome == "mode-mismatch" and "compiled vs eager" in mode.detail and mode.plain
    assert "mode:grad:input" not in by_check


def test_a_mode_refusing_what_the_plain_call_computes_is_a_mode_mismatch_beside_its_error_mismatch():
    adapter = TwoModes({"mse": exact("mse")}, refuse_when_compiled)
    by_check = records_by_check(adapter, MSE, "cpu", "float32", "compiled")
    assert by_check["value"].outcome == "error-mismatch"
    assert by_check["mode:value"].outcome == "mode-mismatch"
    assert by_check["mode:value"].detail == "compiled refuses what eager computes"


def test_a_mode_computing_what_the_plain_call_refuses_on_invalid_input_is_a_mode_mismatch():
    by_check = records_by_check(CompiledClipsClasses(), CE_OUT_OF_RANGE, "cpu", "float32", "compiled")
    assert by_check["value"].outcome == "error-mismatch"           # the oracle refuses it
    assert by_check["mode:value"].outcome == "mode-mismatch"
    assert by_check["mode:value"].detail == "eager refuses what compiled computes"
    assert records_by_check(CompiledClipsClasses(), CE_OUT_OF_RANGE, "cpu", "float32")["value"].outcome == "agree"


def test_an_adapter_without_modes_is_unsupported_in_any_other_mode():
    records = check(MSE, correct("mse"), "cpu", "float32", "compiled")
    assert [(r.outcome, r.mode) for r in records] == [("unsupported", "compiled")]
    assert "no compiled mode" in records[0].detail
