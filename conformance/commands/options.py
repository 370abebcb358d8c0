"""What the subcommands share: the usage error, option values checked by type, and
the frameworks a command runs."""
from __future__ import annotations

import argparse
import signal
from typing import Any, Callable, Sequence

from adapters.user import LOAD_TIMEOUT, AdapterLoadError, load_checked

from .. import frameworks

EXIT_USAGE = 2
MAX_TIMEOUT_S = 86_400.0       # a day: beyond it a "timeout" no longer bounds anything


class UsageError(ValueError):
    pass


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) during a run: the run stops unfinished, its results kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def names(text: str | None, known: Sequence[str], what: str, plural: str = "") -> tuple[str, ...] | None:
    """A comma list of known names, or None when the option is not given."""
    if text is None:
        return None
    given = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in given if n not in known]
    if unknown or not given:
        raise UsageError(f"unknown {what} {', '.join(map(repr, unknown)) or '(empty)'}; "
                         f"known {plural or what + 's'}: {', '.join(known)}")
    return given


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT_S:       # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0 and at most {MAX_TIMEOUT_S:g} "
                                         f"(a day), got {text!r}")
    return value


def growth_factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number above 1, got {text!r}") from None
    if not 1 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number above 1 (how many times a worst error may "
                                         f"grow), got {text!r}")
    return value


def count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value
    return parse


def chosen_frameworks(requested: tuple[str, ...] | None, user_specs: Sequence[str] = (),
                      all_builtins: bool = False, timeout: float = LOAD_TIMEOUT
                      ) -> tuple[list[Any], dict[str, str], dict[str, str]]:
    """The adapters to run: the built-in frameworks asked for (all installed ones when
    none are named and no --adapter is given, or ``all_builtins``), then the users' adapters.
    Returns (adapters, name -> version, user adapter name -> its --adapter spec)."""
    chosen, versions, specs = [], {}, {}
    users = []
    for spec in user_specs:
        try:
            users.append(load_checked(spec, timeout))
        except AdapterLoadError as exc:
            raise UsageError(str(exc)) from None
        specs[users[-1].name] = spec
    for name in requested or (() if users and not all_builtins else tuple(frameworks.names())):
        adapter = frameworks.get(name)
        reason = adapter.unavailable()
        if reason is None:
            chosen.append(adapter)
            versions[name] = adapter.version()
        elif requested:
            raise UsageError(f"{reason}. Install it (pip install -e '.[{name}]') or leave it out of --frameworks")
        else:
            versions[name] = f"unavailable: {reason}"
    for adapter in users:
        if adapter.name in versions:
            raise UsageError(f"two adapters are named {adapter.name!r}")
        chosen.append(adapter)
        versions[adapter.name] = adapter.version()
    return chosen, versions, specs
