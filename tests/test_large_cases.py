"""LLM-scale cases: generated arrays written as their recipe, rebuilt bit for bit;
the thorough profile carries them, on CPU at the scaled-down shapes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conformance import cells as cells_module, engine, large, oracle, profiles
from conformance.vocab.case import Case


def test_a_generated_case_is_written_as_its_recipe_and_read_back_identically():
    (case, *_rest) = large.cases("cross_entropy", "large", "mean", ((8, 1000),), seed=3)
    row = case.to_json()
    text = json.dumps(row)
    assert len(text) < 1000 and "generator" in text                    # not 8000 numbers
    back = Case.from_json(row)
    np.testing.assert_array_equal(back.arrays["input"], case.arrays["input"])
    np.testing.assert_array_equal(back.arrays["target"], case.arrays["target"])
    assert back.id == case.id and back.generated == case.generated
    assert (case.arrays["target"] == large.IGNORE_INDEX).any() and case.arrays["target"].max() < 1000


def test_a_malformed_recipe_is_a_value_error():
    with pytest.raises(ValueError, match="unknown generator kind"):
        large.generate({"kind": "uniformish", "seed": 1}, (2, 2))
    with pytest.raises(ValueError, match="int seed"):
        large.generate({"kind": "normal", "seed": "x", "scale": 1.0}, (2, 2))


def test_the_thorough_profile_adds_large_cells_that_run_on_their_own_device_only():
    thorough = profiles.get("thorough")
    cells = [c for c in cells_module.cells(("cross_entropy",), thorough) if c.source == "large"]
    assert {c.case_variant for c in cells} == {"large", "large_cuda"}
    cpu = next(c for c in cells if c.device == "cpu")
    assert cpu.shapes == thorough.large_shapes and max(v for _, v in cpu.shapes) >= 131072
    assert (4096, 131072) in next(c for c in cells if c.device == "cuda").shapes
    assert not [c for c in cells_module.cells(("cross_entropy",), profiles.get("default")) if c.source == "large"]


def test_a_large_cell_is_checked_end_to_end_at_a_small_shape():
    from conformance import frameworks
    cell = cells_module.Cell("cross_entropy", "large", None, "mean", "cpu", ((6, 4096),))
    numpy = frameworks.get("numpy")
    units = engine.cell_units(engine.InProcess(numpy), cell, ("float32",), ("cpu", "cuda"), profiles.get("quick"),
                              0, lambda key: False, False)
    found = [pair for unit in units for pair in unit.found]
    assert len(found) == 2 and all(c.variant == "large" for c, _ in found)        # cuda skipped
    assert {r.outcome for _, rs in found for r in rs} == {"agree"}


def test_the_oracle_cache_stays_within_its_byte_budget(monkeypatch):
    from conformance.vocab.case import Case
    oracle.clear_cache()
    monkeypatch.setattr(oracle.CACHE, "limit", 200_000)
    for seed in range(12):
        x = np.random.default_rng(seed).normal(size=(50, 40))
        oracle.oracle(Case("mse", "plain", "none", {"input": x, "target": x * 0.5}), "float32")
    sizes = [size for _, size in oracle.CACHE.entries.values()]
    assert 1 <= len(sizes) < 12 and sum(sizes) <= 200_000 and oracle.CACHE.used == sum(sizes)
    oracle.clear_cache()
