"""pytest wiring for the conformance matrix: options and parametrisation only.

The matrix is generated from the catalog (engine.cells) x frameworks x devices
x dtypes; ids read like sentences: test_forward[cross_entropy-weight-mean-torch-cpu-float32].
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adapters  # noqa: E402
from adapters.user import AdapterLoadError  # noqa: E402
from adapters.user import load as load_adapter  # noqa: E402

from conformance import catalog, engine, profiles  # noqa: E402
from conformance.dtypes import DTYPES  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption("--profile", default="smoke", help="case profile for the matrix (default: smoke)")
    group.addoption("--seed", type=int, default=None, help="seed for generated cases")
    group.addoption("--frameworks", default=None, help="comma list (default: all)")
    group.addoption("--losses", default=None, help="comma list (default: all)")
    group.addoption("--dtypes", default=None, help="comma list (default: the profile's)")
    group.addoption("--devices", default="cpu", help="comma list (default: cpu)")
    group.addoption("--adapter", action="append", default=[],
                    help="your own adapter, module:attribute or file.py[:attribute] (repeatable); "
                         "with it only the built-in frameworks named in --frameworks run")


def _list(value: str | None, default) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",")) if value else tuple(default)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    opt = metafunc.config.getoption
    profile = profiles.get(opt("--profile"))
    losses = _list(opt("--losses"), ()) or None
    dtypes = _list(opt("--dtypes"), profile.dtypes)
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        raise pytest.UsageError(f"unknown dtype(s) {unknown}; known: {', '.join(DTYPES)}")
    known_losses = list(catalog.catalog())
    if losses and any(name not in known_losses for name in losses):
        raise pytest.UsageError(f"unknown loss(es) {[n for n in losses if n not in known_losses]}; "
                                f"known: {', '.join(known_losses)}")
    users = []
    for spec in opt("--adapter"):
        try:
            users.append(load_adapter(spec))
        except AdapterLoadError as exc:
            raise pytest.UsageError(str(exc)) from None
        adapters.register(users[-1])
    frameworks = _list(opt("--frameworks"), () if users else adapters.names())
    if any(name not in adapters.names() for name in frameworks):
        raise pytest.UsageError(f"unknown framework(s) in {list(frameworks)}; known: {', '.join(adapters.names())}")
    frameworks += tuple(a.name for a in users)
    params = []
    for cell in engine.cells(losses, profile):
        for fw in frameworks:
            for device in _list(opt("--devices"), ("cpu",)):
                for dtype in dtypes:
                    params.append(pytest.param(cell, fw, device, dtype,
                                               id=f"{cell.id}-{fw}-{device}-{dtype}"))
    metafunc.parametrize("cell,framework,device,dtype", params)


@pytest.fixture(scope="session")
def run_settings(pytestconfig: pytest.Config) -> tuple[str, int]:
    """(profile name, seed)."""
    profile = profiles.get(pytestconfig.getoption("--profile"))
    seed = pytestconfig.getoption("--seed")
    return profile.name, (seed if seed is not None else (profile.seed or 0))
