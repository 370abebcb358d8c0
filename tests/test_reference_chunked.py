"""The cross-entropy oracle streams over row blocks (LLM-scale vocabularies in bounded
memory): the blocked computation equals the one-block computation exactly, and its
temporaries stay a small multiple of one block."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import reference
from reference import classification

VARIANTS = [
    ({}, False), ({"label_smoothing": 0.1}, False), ({"ignore_index": 2}, False),
    ({"weight": True, "label_smoothing": 0.3}, False), ({}, True), ({"weight": True, "label_smoothing": 0.2}, True),
]


def arrays(rng, shape, variant, probabilities):
    x = rng.normal(0, 4, shape)
    x[0, 1] = np.inf if x.ndim == 2 else x[0, 1]        # a limit row among the others
    classes = shape[1]
    lead = (shape[0],) + shape[2:]
    out = {"input": x}
    if probabilities:
        out["target"] = rng.dirichlet(np.ones(classes), lead).reshape(lead + (classes,)).swapaxes(1, -1) \
            if len(shape) > 2 else rng.dirichlet(np.ones(classes), shape[0])
    else:
        out["target"] = rng.integers(0, classes, lead)
    if variant.get("weight"):
        out["weight"] = rng.uniform(0.25, 3, classes)
    return out, {k: v for k, v in variant.items() if k != "weight"}


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("shape", [(37, 11), (6, 5, 4)])
@pytest.mark.parametrize("variant,probabilities", VARIANTS)
def test_blocks_of_rows_give_exactly_the_one_block_result(monkeypatch, variant, probabilities, shape, reduction):
    a, params = arrays(np.random.default_rng(1), shape, variant, probabilities)
    whole = reference.evaluate("cross_entropy", a, params, reduction)
    monkeypatch.setattr(classification, "CHUNK_ELEMENTS", 13)          # a block of one or two rows
    blocked = reference.evaluate("cross_entropy", a, params, reduction)
    np.testing.assert_array_equal(blocked.value, whole.value)
    np.testing.assert_array_equal(blocked.scale, whole.scale)
    assert blocked.grads.keys() == whole.grads.keys()
    for name in whole.grads:
        np.testing.assert_array_equal(blocked.grads[name][0], whole.grads[name][0])
        np.testing.assert_array_equal(blocked.grad_scales[name], whole.grad_scales[name])


def _peak_mb(a, params) -> float:
    tracemalloc.start()
    try:
        ev = reference.evaluate("cross_entropy", a, params, "mean")
        assert np.isfinite(ev.value)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_a_large_vocabulary_needs_the_outputs_and_a_few_blocks_not_a_dozen_float64_matrices(monkeypatch):
    rows, vocab = 64, 65536                         # 4M elements: 32 MB per float64 (rows, vocab) matrix
    rng = np.random.default_rng(0)
    a = {"input": rng.normal(0, 3, (rows, vocab)).astype(np.float32), "target": rng.integers(0, vocab, rows)}
    params = {"label_smoothing": 0.1}
    matrix_mb = rows * vocab * 8 / 2**20
    monkeypatch.setattr(classification, "CHUNK_ELEMENTS", 1 << 18)        # 2 MB float64 blocks
    # the float64 input, the gradient and its scale, and their division by the mean's
    # denominator: five matrices, plus the temporaries of one block
    bound = 5 * matrix_mb + 16 * (1 << 18) * 8 / 2**20
    assert _peak_mb(a, params) < bound
    monkeypatch.setattr(classification, "CHUNK_ELEMENTS", 1 << 40)        # one block: the old way
    assert _peak_mb(a, params) > bound
