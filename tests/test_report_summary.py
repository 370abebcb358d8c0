"""The report's tables computed from records: dtype support and accuracy against the
plain NumPy baseline (pure functions over records)."""
from __future__ import annotations

from conformance.vocab.records import Record
from reports import summary


def rec(framework, dtype, check="value", outcome="agree", error_eps=0.0, **extra):
    r = {"loss": "mse", "variant": "plain", "reduction": "mean", "origin": "hypothesis", "device": "cpu",
         "framework": framework, "dtype": dtype, "check": check,
         "outcome": outcome, "error_eps": error_eps, "detail": "", "claimed": True, "case": "c"}
    if outcome in ("agree", "mismatch", "documented"):
        r["expected"] = {"dtype": "float64", "shape": [], "data": [1.0]}
    return Record.from_json({**r, **extra})


def test_dtype_support_tells_runs_from_refused_and_keeps_the_frameworks_words():
    records = [
        rec("torch", "float32"), rec("torch", "float32", "grad:input"),
        rec("torch", "float16", outcome="unsupported", error_eps=None, claimed=False, refused="forward",
            raised="RuntimeError: \"mse_cpu\" not implemented for 'Half'"),
        rec("jax", "bfloat16"),
        rec("jax", "bfloat16", "grad:input", outcome="error-mismatch", error_eps=None, refused="backward",
            raised="TypeError: no bf16 gradient"),
    ]
    table = summary.dtype_support(records)
    assert table["dtypes"] == ["float32", "float16", "bfloat16"]          # DTYPES order
    ok = table["cells"][("mse", "torch", "float32")]
    assert (ok["forward"], ok["backward"], ok["claimed"]) == ("runs", "runs", True)
    half = table["cells"][("mse", "torch", "float16")]
    assert (half["forward"], half["claimed"]) == ("refused", False)
    assert half["reasons"] == ["RuntimeError: \"mse_cpu\" not implemented for 'Half'"]
    bf = table["cells"][("mse", "jax", "bfloat16")]
    assert (bf["forward"], bf["backward"]) == ("runs", "refused")


def test_dtype_support_counts_refused_cases_of_a_dtype_that_otherwise_runs():
    records = [rec("tensorflow", "float32"), rec("tensorflow", "float32"),
               rec("tensorflow", "float32", outcome="error-mismatch", error_eps=None, refused="forward",
                   raised="InvalidArgumentError: Invalid reduction dimension")]
    cell = summary.dtype_support(records)["cells"][("mse", "tensorflow", "float32")]
    assert cell["forward"] == "runs (1 refused)" and cell["works"]
    assert cell["reasons"] == ["InvalidArgumentError: Invalid reduction dimension"]


def test_accuracy_ranks_each_framework_against_the_numpy_baseline():
    records = [rec("numpy", "float32", error_eps=2.0), rec("numpy", "float32", error_eps=0.5),
               rec("torch", "float32", error_eps=8.0), rec("torch", "float32", error_eps=1.0),
               rec("torch", "float32", outcome="nonfinite-mismatch", error_eps="inf"),
               rec("jax", "float32", "grad:input", error_eps=3.0)]
    table = summary.accuracy(records)
    assert table["frameworks"][0] == "numpy"
    torch = table["cells"][("mse", "value", "float32", "torch")]
    assert (torch["worst"], torch["median"], torch["n"], torch["vs_baseline"]) == (8.0, 4.5, 2, 4.0)
    jax = table["cells"][("mse", "gradient", "float32", "jax")]
    assert jax["vs_baseline"] is None            # no baseline gradient measured


def test_worst_inputs_lists_one_searched_case_per_cell_largest_error_first():
    stats = lambda score: {"explored": 6, "shrink_checks": 3, "shrunk": True, "score": score}  # noqa: E731
    records = [rec("torch", "float32", error_eps=2.0, search=stats(2.0), reduction="sum", device="cpu"),
               rec("torch", "float32", "grad:input", error_eps=1.0, search=stats(2.0), reduction="sum",
                   device="cpu"),
               rec("jax", "float32", error_eps=9.0, outcome="mismatch", search=stats(9.0), reduction="sum",
                   device="cpu"),
               rec("jax", "float32", error_eps=50.0, reduction="sum", device="cpu")]   # not searched
    rows = summary.worst_inputs(records, {})
    assert [(w["key"][3], w["stats"]["score"], w["outcome"]) for w in rows] == [("jax", 9.0, "mismatch"),
                                                                                ("torch", 2.0, "agree")]
    assert rows[1]["worst_check"] == "value"


def test_accuracy_by_size_groups_the_llm_scale_cases_by_shape():
    import numpy as np
    from conformance.vocab.case import Case
    big = Case("cross_entropy", "large", "mean", {"input": np.zeros((4, 8)), "target": np.zeros(4, np.int64)})
    small = Case("cross_entropy", "large", "mean", {"input": np.zeros((2, 8)), "target": np.zeros(2, np.int64)})
    records = [rec("torch", "float32", error_eps=3.0, case=big.id, loss="cross_entropy", variant="large"),
               rec("torch", "float32", "grad:input", error_eps=30.0, case=big.id, outcome="mismatch",
                   loss="cross_entropy", variant="large"),
               rec("torch", "float32", error_eps=1.0, case=small.id, loss="cross_entropy", variant="large"),
               rec("torch", "float32", error_eps=99.0, loss="cross_entropy", variant="plain")]
    table = summary.accuracy_by_size(records, {big.id: big, small.id: small})
    assert table["rows"] == [("cross_entropy", (2, 8), "value"), ("cross_entropy", (4, 8), "gradient"),
                             ("cross_entropy", (4, 8), "value")]
    assert table["cells"][("cross_entropy", (4, 8), "gradient", "torch", "float32")] == {"error": 30.0,
                                                                                        "agrees": False}
    assert table["columns"] == [("torch", "float32")]


def test_coverage_counts_native_and_composed_per_variant_and_reduction_and_keeps_the_apis():
    def ce(variant, reduction, support, api, check="value"):
        return rec("jax", "float32", check, loss="cross_entropy", variant=variant, reduction=reduction,
                   support=support, api=api)
    records = [ce("plain", "mean", "native", "optax.ce"), ce("plain", "mean", "native", "optax.ce", "grad:input"),
               ce("weight", "mean", "composed", "composed: w"), ce("weight", "sum", "composed", "composed: w"),
               ce("plain", "sum", "native", "optax.ce")]
    cov = summary.coverage(records)
    cell = cov["cells"][("cross_entropy", "jax")]
    assert cell["text"] == "composed 2, native 2" and cell["kind"] == "native"
    assert cell["apis"] == ["composed: w", "optax.ce"]
    only = summary.coverage(records[:2])["cells"][("cross_entropy", "jax")]
    assert only["text"] == "native"


def test_the_ulp_ranking_orders_frameworks_by_their_worst_then_median_error_per_loss_and_dtype():
    records = [rec("torch", "bfloat16", error_ulp=0.5), rec("torch", "bfloat16", error_ulp=0.25),
               rec("numpy", "bfloat16", error_ulp=12.0), rec("jax", "bfloat16", error_ulp=0.5),
               rec("jax", "bfloat16", error_ulp=0.5), rec("jax", "bfloat16", "grad:input", error_ulp=7.0),
               rec("tensorflow", "bfloat16", outcome="unsupported", error_eps=None, error_ulp=None),
               rec("torch", "float32", error_ulp="inf", outcome="nonfinite-mismatch")]
    rows = summary.ulp_ranking(records)
    assert [(r["check"], r["dtype"]) for r in rows] == [("gradient", "bfloat16"), ("value", "float32"),
                                                         ("value", "bfloat16")]       # the DTYPES order
    value_bf16 = next(r for r in rows if (r["check"], r["dtype"]) == ("value", "bfloat16"))
    assert [c["framework"] for c in value_bf16["ranked"]] == ["torch", "jax", "numpy"]      # 0.5/0.375, 0.5/0.5, 12
    assert next(r for r in rows if r["dtype"] == "float32")["ranked"][0]["worst"] == float("inf")
