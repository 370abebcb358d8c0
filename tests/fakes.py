"""Fake adapters for the project's tests: the oracle's formulas (reference.call) in
float64 on the values the engine hands over, correctly rounded to the dtype, which a
test then breaks on purpose in one precise way (``before`` edits the inputs,
``after`` edits (value, grads))."""
from __future__ import annotations

import numpy as np

import reference
from adapters.base import FrameworkAdapter, Output, Policy, Recipe
from conformance.vocab.case import Case
from conformance.vocab.dtypes import round_to
from conformance.vocab.records import Record


def exact(loss: str, policies=None, *, before=None, after=None) -> Recipe:
    """A recipe computing the oracle's formula; ``before`` edits the inputs,
    ``after`` edits (value, grads) - the deliberate bug."""
    def fn(arrays, params, reduction):
        arrays = before(dict(arrays)) if before else arrays
        ev = reference.call(loss, arrays, params, reduction, policies)
        value, grads = ev.value, {n: lo.copy() for n, (lo, _hi) in ev.grads.items()}
        return after(value, grads) if after else (value, grads)
    return Recipe(fn, f"fake.{loss}", sample_weights=True)   # reference.call weighs the terms itself


class Fake(FrameworkAdapter):
    name = "fake"

    def __init__(self, recipes, *, policies=None, unchecked: Policy | None = None,
                 devices: tuple[str, ...] = ("cpu",)) -> None:
        self.recipes = recipes
        self.policies_by_loss = policies or {}
        self.unchecked_values = unchecked
        self._devices = devices

    def _import(self):
        return np

    def version(self) -> str:
        return "0.0-test"

    def devices(self) -> tuple[str, ...]:  # the engine must not run a device absent here
        return self._devices

    def _run(self, recipe, arrays, params, reduction, dtype, device, wrt) -> Output:
        with np.errstate(all="ignore"):
            value, grads = recipe.fn(arrays, params, reduction)
        return Output(round_to(np.asarray(value, np.float64), dtype),
                      {n: round_to(np.asarray(grads[n], np.float64), dtype) for n in wrt})


def correct(*losses: str) -> Fake:
    return Fake({n: exact(n) for n in losses or reference.FUNCTIONS})


def case(loss, arrays, reduction="mean", params=None, variant="plain") -> Case:
    return Case(loss, variant, reduction, {k: np.asarray(v) for k, v in arrays.items()}, params or {})


def record(outcome: str = "agree", check: str = "value", **fields) -> Record:
    """A record with placeholder coordinates: what a test of scoring or grouping needs."""
    coordinates = {"case": "c", "loss": "mse", "variant": "plain", "reduction": "mean", "origin": "hypothesis",
                   "framework": "fake", "device": "cpu", "dtype": "float32"}
    return Record(**{**coordinates, **fields}, check=check, outcome=outcome)
