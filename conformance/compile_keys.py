"""How many executables a profile makes a compiling framework build.

A compiling framework (JAX's jit, torch.compile, TensorFlow's XLA) builds one
executable per distinct (loss, variant, reduction, compiled-in parameters,
array shapes and kinds) and dtype: its *compile key*. The cost of a cold run
grows with the number of keys, not of cases, so ``count`` gives it per cell
source for a profile's cases (the worst-case search and the execution modes
draw more; they are not counted). Flags and strings are the parameters every
adapter compiles in; a recipe may compile in more (a count is a lower bound).
"""
from __future__ import annotations

import collections
from typing import Any

from . import cells
from .profiles import Profile
from .vocab.case import Case


def key(case: Case) -> tuple[Any, ...]:
    """The compile key of a case, less its dtype."""
    flags = tuple(sorted((k, v) for k, v in case.params.items() if isinstance(v, (bool, str))))
    shapes = tuple(sorted((k, a.shape, a.dtype.kind) for k, a in case.arrays.items()))
    return case.loss, case.variant, case.reduction, flags, shapes


def count(profile: Profile, losses: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Per cell source its cases and distinct keys (``by_source``), the keys of all
    sources together (a key two sources share is built once) and those times the
    profile's dtypes (``executables``), for the cases a run draws with the profile's seed."""
    keys: dict[str, set] = collections.defaultdict(set)
    cases: collections.Counter = collections.Counter()
    for cell in cells.cells(losses, profile):
        for case in cells.cases_for(cell, profile.examples, profile.run_seed):
            keys[cell.source].add(key(case))
            cases[cell.source] += 1
    together = set().union(*keys.values()) if keys else set()
    return {"profile": profile.name, "by_source": {s: {"cases": cases[s], "keys": len(keys[s])} for s in sorted(keys)},
            "keys": len(together), "dtypes": len(profile.dtypes), "executables": len(together) * len(profile.dtypes)}


def table(found: dict[str, Any]) -> str:
    lines = [f"{'source':>12}{'cases':>10}{'keys':>10}"]
    lines += [f"{s:>12}{v['cases']:>10}{v['keys']:>10}" for s, v in found["by_source"].items()]
    lines.append(f"{'together':>12}{sum(v['cases'] for v in found['by_source'].values()):>10}{found['keys']:>10}")
    lines.append(f"profile {found['profile']}: {found['keys']} compile keys x {found['dtypes']} dtypes = "
                 f"{found['executables']} executables a compiling framework builds cold (search and modes not counted)")
    return "\n".join(lines)
