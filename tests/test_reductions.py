"""Every loss is checked summed and averaged over at least 4,096 terms, in every
dtype and profile: where a half-precision accumulator stalls."""
from __future__ import annotations

import numpy as np
import pytest

import reference
from conformance import cells as cells_module, profiles, reductions
from conformance.vocab import catalog


@pytest.mark.slow
@pytest.mark.parametrize("loss", sorted(catalog.catalog()))
def test_every_loss_has_its_reductions_over_thousands_of_terms(loss):
    spec = catalog.get(loss)
    found = [c for c in cells_module.cells((loss,), profiles.get("smoke")) if c.source == "reduction"]
    assert {c.reduction for c in found} == set(spec.reductions) & {"sum", "mean", "batchmean"} != set()
    for cell in found:
        (case,) = cells_module.cases_for(cell, 2, 0)
        assert case.reduction == cell.reduction and case.variant == reductions.VARIANT
        assert cell.variant in spec.variants
        with np.errstate(all="ignore"):
            terms = reference.evaluate(loss, case.arrays, case.params, "none").value if "none" in spec.reductions \
                else None
        if loss == "ntxent":      # one term per anchor, each summing over the N - 1 others
            n = case.arrays["embeddings"].shape[0]
            assert n * (n - 1) >= reductions.TERMS
        else:
            assert terms is not None and terms.size >= reductions.TERMS, (cell.id, terms.shape)


def test_the_reduction_cases_are_drawn_the_same_way_twice():
    cell = next(c for c in cells_module.cells(("mse",)) if c.source == "reduction")
    first = cells_module.cases_for(cell, 2, 7)[0].id
    cells_module.clear_case_cache()
    assert cells_module.cases_for(cell, 2, 7)[0].id == first
    assert cells_module.cases_for(cell, 2, 8)[0].id != first
