"""The conformance matrix: one test per (loss variant, framework, device, dtype, and
execution mode when it is not the framework's default), forward (values) and backward
(gradients), on the same engine as the CLI. In a mode other than the default, the
cell's sampled cases are checked (engine.modes_for), without the worst-case search."""
from __future__ import annotations

import json
from functools import lru_cache

import pytest

from conformance import frameworks
from conformance import engine, profiles
from conformance.cells import Cell, cases_for
from conformance.check import check
from conformance.vocab.records import FAILING


@lru_cache(maxsize=None)
def _records(cell: Cell, framework: str, device: str, dtype: str, mode: str | None,
             profile_name: str, seed: int) -> tuple[tuple[dict, ...], dict, tuple]:
    """The cell's records (generated cases, then the profile's worst-case search),
    the cases by id, and whether it ran."""
    adapter = frameworks.get(framework)
    reason = adapter.unavailable()
    if reason:
        return (), {}, ("skip", reason)
    if device not in adapter.devices():
        return (), {}, ("skip", f"{framework} has no {device} device here")
    if not cell.runs_on(device):
        return (), {}, ("skip", f"{cell.id} cases run on {cell.device} only")
    profile = profiles.get(profile_name)
    cases = cases_for(cell, profile.examples, seed)
    if mode is not None:
        found = [(c, check(c, adapter, device, dtype, mode)) for i, c in enumerate(cases)
                 if engine.modes_for(cell, i, len(cases), dtype, profile, (mode,), adapter.default_mode)]
        return tuple(r for _, rs in found for r in rs), {c.id: c for c, _ in found}, ("ok", "")
    found = [(c, check(c, adapter, device, dtype)) for c in cases]
    found += engine.searched(cell, adapter, device, dtype, profile, seed)
    return tuple(r for _, rs in found for r in rs), {c.id: c for c, _ in found}, ("ok", "")


def _verdict(records, cases, status, want_value: bool, cell, framework, dtype, settings) -> None:
    profile, seed = settings
    kind, reason = status
    if kind == "skip":
        pytest.skip(reason)
    mine = [r for r in records if (r.check.rsplit(":", 1)[-1] == "value") == want_value]
    if not mine:
        pytest.skip("no gradient checks in this cell (no differentiable argument, or every case refused)")
    failing = [r for r in mine if r.outcome in FAILING]
    unexplained = [r for r in failing if not r.finding]
    if unexplained:
        r = unexplained[0]
        case = cases[r.case]
        pytest.fail(
            f"{len(unexplained)} unexplained failure(s); first: {r.check} {r.outcome}: {r.detail}\n"
            f"reproduce: python -m conformance run --frameworks {framework} --losses {cell.loss} "
            f"--dtypes {dtype} --profile {profile} --seed {seed}{f' --modes {r.mode}' if r.mode else ''}\n"
            f"case: {json.dumps(case.to_json(), allow_nan=False)[:2000]}", pytrace=False)
    if failing:
        ids = sorted({r.finding for r in failing})
        pytest.xfail(f"known finding(s): {', '.join(ids)} (conformance/data/findings.toml)")


def test_forward(cell, framework, device, dtype, mode, run_settings):
    _verdict(*_records(cell, framework, device, dtype, mode, *run_settings), True, cell, framework, dtype,
             run_settings)


def test_backward(cell, framework, device, dtype, mode, run_settings):
    _verdict(*_records(cell, framework, device, dtype, mode, *run_settings), False, cell, framework, dtype,
             run_settings)
