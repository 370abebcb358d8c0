"""JAX's CTC in shape buckets (adapters/jax/recipes/ctc.py ``padded``): valid inputs are
padded, as a user pads a batch, to bucket sizes optax masks with its own paddings, so
the cases of a cell compile a few executables instead of one per shape; the value and
the gradient are those of the unpadded call, and an input whose lengths exceed its
arrays is left as it is."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conformance import cells, oracle

pytest.importorskip("jax")
pytest.importorskip("optax")

from adapters.jax import adapter as jax_adapter  # noqa: E402
from adapters.jax.recipes import ctc as jax_ctc  # noqa: E402
from conformance.frameworks import get  # noqa: E402


def _cases() -> list:
    """The valid ctc cases of the edge and document cells, and of the generated cells
    of reduction 'mean' (every variant): hand-listed shapes and drawn ones."""
    found = []
    for cell in cells.cells(("ctc",)):
        if cell.source in ("edge", "document") or (cell.generated and cell.reduction == "mean"):
            found += [c for c in cells.cases_for(cell, 4, 0) if oracle.oracle(c, "float64").error is None]
    return found


def test_valid_inputs_are_padded_to_buckets_and_invalid_ones_are_not():
    x = np.zeros((5, 2, 3))
    arrays = {"log_probs": x, "targets": np.array([[1, 2, 0], [2, 2, 1]]), "input_lengths": np.array([5, 3]),
              "target_lengths": np.array([2, 3])}
    padded, crop = jax_ctc.padded(arrays, {})
    assert padded["log_probs"].shape == (8, 2, 3) and padded["targets"].shape == (2, 4)
    assert crop == {"log_probs": (slice(0, 5),)}
    np.testing.assert_array_equal(padded["log_probs"][:5], x)
    assert jax_ctc.padded({**arrays, "input_lengths": np.array([6, 3])}, {}) is None      # past the frames
    assert jax_ctc.padded({**arrays, "target_lengths": np.array([2, 4])}, {}) is None     # past the labels
    concatenated = {**arrays, "targets": np.array([1, 2, 2, 2, 1]), "target_lengths": np.array([2, 3])}
    assert jax_ctc.padded(concatenated, {})[0]["targets"].shape == (8,)
    assert jax_ctc.padded({**concatenated, "target_lengths": np.array([3, 3])}, {}) is None


def _executables(cases: list, recipe) -> int:
    """How many executables jit compiles for the cases: one per (reduction, compiled-in
    parameters, shapes of what it is called with)."""
    keys = set()
    for case in cases:
        o = oracle.oracle(case, "float64")
        bucketed = recipe.padded(o.arrays, case.params) if recipe.padded else None
        arrays = bucketed[0] if bucketed else o.arrays
        static = jax_adapter.split_params(recipe, arrays, case.params)[1]
        keys.add((case.reduction, tuple(sorted(static.items())),
                  tuple(sorted((k, v.shape) for k, v in arrays.items()))))
    return len(keys)


@pytest.mark.slow
def test_the_padded_call_gives_the_unpadded_value_and_gradient_with_fewer_executables(monkeypatch):
    adapter = get("jax")
    cases = _cases()
    assert len(cases) > 30

    def results() -> list:
        adapter.release()
        out = []
        for case in cases:
            o = oracle.oracle(case, "float64")
            out.append(adapter.run(case, o.arrays, "float64", "cpu", oracle.differentiable(case, o)))
        return out
    bucketed_recipe = adapter.recipes["ctc"]
    bucketed = results()
    plain_recipe = dataclasses.replace(bucketed_recipe, padded=None)
    monkeypatch.setitem(adapter.recipes, "ctc", plain_recipe)
    plain = results()
    adapter.release()
    for case, a, b in zip(cases, bucketed, plain):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-12, atol=1e-12, err_msg=case.id)
        assert sorted(a.grads) == sorted(b.grads)
        for n in a.grads:
            assert a.grads[n].shape == b.grads[n].shape
            np.testing.assert_allclose(a.grads[n], b.grads[n], rtol=1e-12, atol=1e-12, err_msg=case.id)
    assert _executables(cases, bucketed_recipe) < 0.8 * _executables(cases, plain_recipe)     # 28 of 39
