"""The pytest plugin of the conformance matrix (entry point ``pytest11``): its
options and the parametrisation of conformance/test_matrix.py, nothing else.

The matrix is generated from the catalog (conformance.cells) x frameworks x devices
x dtypes (x the execution modes of ``--modes``); ids read like sentences:
test_forward[cross_entropy-weight-mean-torch-cpu-float32], and in a mode other than the
framework's default test_forward[cross_entropy-weight-mean-torch-cpu-float32-compiled].
From any directory: ``pytest --pyargs conformance --profile quick --adapter mymodule:MyAdapter``.
"""
from __future__ import annotations

import pytest

from adapters.native_logs import quiet_tensorflow

quiet_tensorflow()                      # before the matrix imports TensorFlow

from adapters.base import DEVICES  # noqa: E402
from adapters.user import AdapterLoadError, load_checked  # noqa: E402
from conformance import frameworks, profiles  # noqa: E402
from conformance.cells import cells  # noqa: E402
from conformance.vocab import catalog  # noqa: E402
from conformance.vocab.dtypes import DTYPES  # noqa: E402
from conformance.vocab.modes import MODES, parse as parse_modes  # noqa: E402

SETTINGS = pytest.StashKey[tuple]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption("--profile", default="smoke", help="case profile for the matrix (default: smoke)")
    group.addoption("--seed", type=int, default=None, help="seed for generated cases")
    group.addoption("--frameworks", default=None, help="comma list (default: all)")
    group.addoption("--losses", default=None, help="comma list (default: all)")
    group.addoption("--dtypes", default=None, help="comma list (default: the profile's)")
    group.addoption("--devices", default="cpu", help="comma list (default: cpu)")
    group.addoption("--modes", default=None,
                    help=f"execution modes besides each framework's default: comma list of {', '.join(MODES)}, "
                         f"'all' or 'none' (default: the profile's); run on the cases the profile samples")
    group.addoption("--adapter", action="append", default=[],
                    help="your own adapter, module:attribute or file.py[:attribute] (repeatable); "
                         "with it only the built-in frameworks named in --frameworks run")


def _list(value: str | None, default) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else tuple(default)


def _known(names: tuple[str, ...], known, what: str) -> tuple[str, ...]:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise pytest.UsageError(f"unknown {what} {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    return names


def pytest_configure(config: pytest.Config) -> None:
    """Check the matrix options before anything is collected: a bad value is one usage
    error (pytest exits 4), not a traceback from inside the parametrisation."""
    opt = config.getoption
    try:
        profile = profiles.get(opt("--profile"))
    except profiles.UnknownProfile as exc:
        raise pytest.UsageError(str(exc)) from None
    losses = _known(_list(opt("--losses"), ()), list(catalog.catalog()), "loss(es)") or None
    dtypes = _known(_list(opt("--dtypes"), profile.dtypes), list(DTYPES), "dtype(s)")
    devices = _known(_list(opt("--devices"), ("cpu",)), DEVICES, "device(s)")
    try:
        modes = parse_modes(opt("--modes"), profile.modes)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    users = []
    for spec in opt("--adapter"):
        try:
            users.append(load_checked(spec))
        except AdapterLoadError as exc:
            raise pytest.UsageError(str(exc)) from None
        frameworks.register(users[-1])
    chosen = _known(_list(opt("--frameworks"), () if users else frameworks.names()), frameworks.names(),
                    "framework(s)")
    config.stash[SETTINGS] = (profile, losses, dtypes, devices, chosen + tuple(a.name for a in users), modes)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    profile, losses, dtypes, devices, chosen, modes = metafunc.config.stash[SETTINGS]
    params = []
    for cell in cells(losses, profile):
        for fw in chosen:
            default = getattr(frameworks.get(fw), "default_mode", "eager")
            for device in devices:
                for dtype in dtypes:
                    params.append(pytest.param(cell, fw, device, dtype, None,
                                               id=f"{cell.id}-{fw}-{device}-{dtype}"))
                    sampled = cell.source in profile.mode_sources and dtype in profile.mode_dtypes
                    params += [pytest.param(cell, fw, device, dtype, mode, id=f"{cell.id}-{fw}-{device}-{dtype}-{mode}")
                               for mode in modes if sampled and mode != default]
    metafunc.parametrize("cell,framework,device,dtype,mode", params)


@pytest.fixture(scope="session")
def run_settings(pytestconfig: pytest.Config) -> tuple[str, int]:
    """(profile name, seed)."""
    profile = profiles.get(pytestconfig.getoption("--profile"))
    seed = pytestconfig.getoption("--seed")
    return profile.name, (seed if seed is not None else profile.run_seed)
