"""The source documents' worked examples: they load, and documents.judge gives the
verdict the printed precision calls for - on synthetic statements and on the real ones."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conformance import documents, oracle as oracles

from conformance.vocab import catalog
from conformance.vocab.case import Case
from conformance.documents import Example, judge
from conformance.vocab.tolerance import for_dtype

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
K32 = for_dtype("float32").k
CASE = Case("mse", "document", "mean", {"input": np.array([0.5]), "target": np.array([0.0])}, origin="document")


def example(stated=None, stated_error=None, precision=None, dtype="float32") -> Example:
    return Example(case=CASE, source="synthetic.txt", section="§ 0", dtype=dtype, quote="…",
                   stated=tuple(stated) if stated is not None else None, stated_error=stated_error,
                   stated_precision=precision)


def verdict(ex: Example, value=None, scale=None, error=None) -> str:
    value = None if value is None else np.asarray(value, dtype=np.float64)
    scale = None if scale is None else np.asarray(scale, dtype=np.float64)
    return judge(ex, value, scale, error, k=K32).verdict


# ------------------------------------------------------------ the data file

def test_at_least_forty_examples_load_each_with_source_section_and_quote():
    examples = documents.examples()
    assert len(examples) >= 40
    for ex in examples:
        assert ex.source.strip() and ex.section.strip() and ex.quote.strip(), ex
        assert ex.case.loss in catalog.catalog() and ex.case.origin == "document"
        assert ex.dtype in ("float64", "float32", "float16", "bfloat16")
        assert ex.stated is None or ex.stated_error is None, f"{ex.section}: both a value and an error"


def test_each_quote_appears_in_its_source_document():
    if not SEEDS.is_dir():
        pytest.skip(f"source documents not found at {SEEDS}")
    squash = lambda s: re.sub(r"\s+", " ", s)  # noqa: E731
    for ex in documents.examples():
        assert squash(ex.quote) in squash((SEEDS / ex.source).read_text(encoding="utf-8")), ex.section


def test_for_loss_returns_exactly_that_loss_examples():
    bce = documents.for_loss("bce")
    assert bce and all(c.loss == "bce" for c in bce)
    assert len(bce) == sum(ex.case.loss == "bce" for ex in documents.examples())


# ------------------------------------------------------ judge, synthetically

def test_a_statement_within_half_a_unit_of_its_last_digit_is_confirmed():
    assert verdict(example(["1.3133"]), 1.31326169, 1.3) == "confirmed"
    assert verdict(example(["1.3133"]), 1.313349, 1.3) == "confirmed"
    assert verdict(example(["2."]), 2.4, 2.4) == "confirmed"


def test_a_statement_off_by_more_than_its_printed_precision_and_the_dtype_noise_is_wrong():
    assert verdict(example(["1.3133"]), 1.31336, 1.3) == "wrong"
    assert verdict(example(["0.0834"]), 1 / 12, 1 / 12) == "wrong"
    assert verdict(example(["2."]), 2.6, 2.6) == "wrong"


def test_float32_noise_printed_as_significant_digits_is_over_precise():
    ex = example(["0.0833333358168602"])
    assert verdict(ex, 1 / 12, 1 / 12) == "over-precise"
    detail = judge(ex, np.asarray(1 / 12), np.asarray(1 / 12), None, k=K32).detail
    assert "float32" in detail


def test_the_same_digits_are_confirmed_when_the_exact_value_is_the_float32_one():
    assert verdict(example(["0.0833333358168602"]), float(np.float32(1 / 12)), 1 / 12) == "confirmed"


def test_over_precision_is_measured_in_the_document_dtype():
    # The same 2.5e-9 gap is beyond float64 rounding of 1/12.
    assert verdict(example(["0.0833333358168602"], dtype="float64"), 1 / 12, 1 / 12) == "wrong"


def test_the_worst_element_decides_and_question_marks_are_skipped():
    assert verdict(example(["1.3133", "?"]), [1.31326169, 99.0], [1.3, 99.0]) == "confirmed"
    assert verdict(example(["1.3133", "0.0833333358168602"]), [1.31326169, 1 / 12], [1.3, 1 / 12]) \
        == "over-precise"
    assert verdict(example(["0.0833333358168602", "5.0"]), [1 / 12, 4.0], [1 / 12, 4.0]) == "wrong"


def test_a_different_number_of_stated_values_is_wrong():
    assert verdict(example(["1.0", "2.0"]), [1.0], [1.0]) == "wrong"


def test_a_stated_precision_overrides_the_printed_one():
    assert verdict(example(["0"], precision=0.0), 1e-3, 1.0) == "wrong"
    assert verdict(example(["0.65916"], precision=3e-5), 0.65918, 1.0) == "confirmed"
    assert verdict(example(["0.65916"]), 0.65918, 1.0) == "wrong"


def test_a_stated_error_with_an_oracle_refusal_is_confirmed():
    assert verdict(example(stated_error="报错"), error="class index 2 out of range [0, 2)") == "confirmed"


def test_a_stated_error_where_the_oracle_has_a_value_is_wrong():
    assert verdict(example(stated_error="报错"), 0.5, 0.5) == "wrong"


def test_a_stated_value_where_the_oracle_refuses_the_inputs_is_wrong():
    ex = example(["-13.8155"])
    assert verdict(ex, error="input must lie in [0, 1]") == "wrong"
    assert "domain" in judge(ex, None, None, "input must lie in [0, 1]", k=K32).detail


def test_no_stated_value_is_no_claim():
    assert verdict(example(), 0.5, 0.5) == "no-claim"


# ------------------------------------------------- judge, on the real documents

def real_verdicts(source_prefix: str) -> list[tuple[Example, str]]:
    out = []
    for ex in documents.examples():
        if ex.source.startswith(source_prefix):
            o = oracles.oracle(ex.case, ex.dtype)
            ev = o.evaluation
            v = judge(ex, None if ev is None else ev.value, None if ev is None else ev.scale, o.error,
                      k=for_dtype(ex.dtype).k)
            out.append((ex, v.verdict))
    assert out, f"no examples from {source_prefix}"
    return out


def test_document_004_mse_l1_cross_entropy_and_bce_statements_are_wrong():
    got = {ex.case.loss: v for ex, v in real_verdicts("004_") if ex.stated}
    assert got == {"mse": "wrong", "l1": "wrong", "cross_entropy": "wrong", "bce": "wrong"}


def test_document_004_bce_with_logits_prints_nothing_and_makes_no_claim():
    assert [v for ex, v in real_verdicts("004_") if ex.case.loss == "bce_with_logits"] == ["no-claim"]


def test_document_000_bce_of_minus_13_8155_is_wrong_because_its_inputs_leave_the_domain():
    (ex, v), = [(ex, v) for ex, v in real_verdicts("000_") if ex.stated == ("-13.8155",)]
    assert v == "wrong"
    assert oracles.oracle(ex.case, ex.dtype).error is not None


def test_document_000_stated_failures_are_confirmed_by_oracle_refusals():
    failures = [v for ex, v in real_verdicts("000_") if ex.stated_error]
    assert failures and set(failures) == {"confirmed"}


def test_document_001_hand_computed_weighted_mean_is_over_precise():
    (v,) = [v for ex, v in real_verdicts("001_") if ex.stated == ("0.3641947731375694",)]
    assert v == "over-precise"


def test_document_001_four_digit_tensors_are_confirmed():
    four = [(ex.section, v) for ex, v in real_verdicts("001_")
            if ex.stated and all(re.fullmatch(r"-?\d+\.\d{4}", s) for s in ex.stated)]
    assert len(four) >= 10
    assert {v for _, v in four} == {"confirmed"}, [s for s, v in four if v != "confirmed"]
