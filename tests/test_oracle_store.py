"""The oracle answers a run's worker processes share (conformance/oracle_store.py): an
answer read back from another process is the answer computed here, to the bit, for
values, refusals and undefined terms alike, so every record is the same whichever
process computed it; an unreadable file is recomputed, not trusted."""
from __future__ import annotations

import numpy as np
import pytest

from conformance import cells, oracle, oracle_store
from conformance.check import check
from conformance.frameworks import get
from conformance.vocab.records import Record


def _cases() -> list:
    """CTC (the costly lattice), a refusal (DomainError), an undefined mean, class gradients."""
    picked = []
    for loss, want in (("ctc", lambda o: o.error is None and o.evaluation.grads),
                       ("nll", lambda o: o.error is not None),
                       ("cross_entropy", lambda o: o.error is None and bool(o.evaluation.undefined)),
                       ("kl_div", lambda o: o.error is None and o.evaluation.grads)):
        for cell in cells.cells((loss,)):
            found = [c for c in cells.cases_for(cell, 2, 0) if want(oracle.oracle(c, "float32"))]
            if found:
                picked.append(found[0])
                break
        else:
            pytest.fail(f"no {loss} case of the wanted kind")
    return picked


def _same(a, b) -> None:
    assert a.error == b.error and a.value_dependent == b.value_dependent
    assert sorted(a.arrays) == sorted(b.arrays)
    for k in a.arrays:
        assert a.arrays[k].dtype == b.arrays[k].dtype
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    if a.evaluation is None:
        assert b.evaluation is None
        return
    ea, eb = a.evaluation, b.evaluation
    for field in ("value", "scale", "accumulation", "condition", "undefined_at"):
        x, y = getattr(ea, field), getattr(eb, field)
        assert (x is None) == (y is None), field
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=field)
    assert ea.undefined == eb.undefined
    assert sorted(ea.grads) == sorted(eb.grads) and sorted(ea.grad_scales) == sorted(eb.grad_scales)
    for n in ea.grads:
        for x, y in zip(ea.grads[n], eb.grads[n]):
            np.testing.assert_array_equal(x, y, err_msg=n)
        np.testing.assert_array_equal(ea.grad_scales[n], eb.grad_scales[n])


def test_an_answer_read_back_is_the_answer_computed_and_gives_the_same_records(monkeypatch):
    cases = _cases()
    adapter = get("numpy")
    oracle.clear_cache()
    computed = {c.id: oracle.oracle(c, "float32") for c in cases}
    alone = {c.id: check(c, adapter, "cpu", "float32") for c in cases}
    monkeypatch.setattr(oracle_store, "SHARE_SECONDS", -1.0)        # share every answer
    with oracle_store.sharing() as directory:
        oracle.clear_cache()
        for c in cases:
            oracle.oracle(c, "float32")                              # computed, and written
        assert len(list(directory.glob("*.npz"))) == len(cases)
        oracle.clear_cache()                                         # as in another process
        monkeypatch.setattr(oracle, "evaluate", lambda *a, **k: pytest.fail("recomputed a stored answer"))
        for c in cases:
            _same(computed[c.id], oracle.oracle(c, "float32"))
        for c in cases:
            shared = check(c, adapter, "cpu", "float32")
            assert [r.to_json() for r in shared] == [r.to_json() for r in alone[c.id]]
            assert all(isinstance(r, Record) for r in shared)
    oracle.clear_cache()


def test_an_unreadable_answer_is_computed_again(monkeypatch):
    case = _cases()[0]
    monkeypatch.setattr(oracle_store, "SHARE_SECONDS", -1.0)
    with oracle_store.sharing() as directory:
        oracle.clear_cache()
        expected = oracle.oracle(case, "float64")
        (path,) = directory.glob("*.npz")
        path.write_bytes(path.read_bytes()[:40])                     # cut short
        assert oracle_store.load(case.id, "float64") is None
        oracle.clear_cache()
        _same(expected, oracle.oracle(case, "float64"))
    oracle.clear_cache()


def test_without_a_run_nothing_is_written(monkeypatch, tmp_path):
    monkeypatch.delenv(oracle_store.ENV, raising=False)
    monkeypatch.setattr(oracle_store, "SHARE_SECONDS", -1.0)
    oracle.clear_cache()
    oracle.oracle(_cases()[0], "float32")
    assert oracle_store.load(_cases()[0].id, "float32") is None
    oracle.clear_cache()
