"""The engine: cells -> cases -> (oracle, adapter, compare) -> records, in units.

Both the pytest matrix and the command line go through here (``cells``,
``check``, ``searched``, ``iterate``); neither re-implements a step. The work is
cut into units (``Unit``): one case on one framework, device and dtype, or one
worst-case search; a resumed run skips whole units. Units come out in one
canonical order (cell by cell, framework by framework) however they were computed.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, runtime_checkable

from adapters.base import AdapterContractError, FrameworkAdapter

from . import search
from .cells import Cell, cases_for
from .check import check
from .profiles import Profile
from .vocab.case import Case
from .vocab.records import Record

Found = list[tuple[Case, list[Record]]]


@runtime_checkable
class Checker(Protocol):
    """What runs checks for one framework: in this process (``InProcess``) or in a
    worker process (``worker.IsolatedAdapter``)."""
    name: str
    default_mode: str

    def check(self, case: Case, device: str, dtype: str, mode: str | None = None) -> list[Record]: ...

    def release(self) -> None: ...


@runtime_checkable
class Searcher(Protocol):
    """A checker that runs a cell's worst-case search itself (beside its framework);
    None when it could not (the engine then searches case by case through ``check``)."""

    def search(self, cell: Cell, device: str, dtype: str, profile: Profile, seed: int) -> Found | None: ...


class InProcess:
    """Runs an adapter's checks in this process (the pytest matrix, the tests)."""

    def __init__(self, adapter: FrameworkAdapter) -> None:
        self.adapter, self.name = adapter, adapter.name
        self.default_mode = getattr(adapter, "default_mode", "eager")

    def check(self, case: Case, device: str, dtype: str, mode: str | None = None) -> list[Record]:
        return check(case, self.adapter, device, dtype, mode)

    def release(self) -> None:
        self.adapter.release()


def as_checker(adapter_or_checker: FrameworkAdapter | Checker) -> Checker:
    return InProcess(adapter_or_checker) if isinstance(adapter_or_checker, FrameworkAdapter) else adapter_or_checker


# -- the worst-case search ------------------------------------------------------------------
def searchable(cell: Cell, profile: Profile, dtype: str) -> bool:
    """Whether the profile searches this cell in this dtype (generated cells only)."""
    return cell.generated and bool(profile.search_examples) and dtype in profile.search_dtypes


class _ContractBroken(BaseException):
    """Carries an AdapterContractError out of a Hypothesis search unshrunk."""


def searched(cell: Cell, adapter: FrameworkAdapter | Checker, device: str, dtype: str, profile: Profile,
             seed: int) -> Found:
    """The worst (shrunk) case a targeted Hypothesis search finds for a generated
    cell on one framework, device and dtype, then any other failing case it met."""
    if not searchable(cell, profile, dtype):
        return []
    checker = as_checker(adapter)
    if isinstance(checker, Searcher):
        # A worker process runs the search beside its framework: searches of
        # different frameworks then run at once instead of taking turns at
        # Hypothesis in this process. None: the worker failed, search here.
        found = checker.search(cell, device, dtype, profile, seed)
        if found is not None:
            return found

    def run_check(case: Case) -> list[Record]:
        try:
            return checker.check(case, device, dtype)
        except AdapterContractError as exc:
            raise _ContractBroken(exc) from None      # through Hypothesis, which would shrink an Exception

    try:
        worst = search.worst_case(
            cell.loss, cell.variant, cell.reduction, run_check,
            examples=profile.search_examples, shrink_budget=profile.search_shrink,
            seed_value=zlib.crc32(f"{seed}:{cell.id}:search".encode()),
            database=search.example_database() if profile.database else None,
            database_key=f"{cell.id}:{checker.name}:{device}:{dtype}:{seed}")
    except _ContractBroken as broken:
        raise broken.args[0] from None
    if worst is None:
        return []
    stats = {"explored": worst.explored, "shrink_checks": worst.shrink_checks, "shrunk": worst.shrunk,
             "score": worst.score}
    found = [(worst.case, [dataclasses.replace(r, origin="search", search=stats) for r in worst.records])]
    return found + [(c, [dataclasses.replace(r, origin="search") for r in rs]) for c, rs in worst.failures]


# -- units ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """What the engine computes in one go, and a resumed run skips as a whole: one case
    on one framework, device and dtype (``key`` names the cell and the case's place in
    it, so a case met twice, in the corpus and drawn again, is two units), or one
    worst-case search. ``found``: its cases with their records (a search: several)."""
    key: str
    found: Found


def check_key(cell: Cell, index: int, case: Case, framework: str, device: str, dtype: str,
              mode: str | None = None) -> str:
    key = f"{cell.id}#{index}|{case.id}|{framework}|{device}|{dtype}"
    return key if mode is None else f"{key}|{mode}"


def modes_for(cell: Cell, index: int, count: int, dtype: str, profile: Profile, modes: tuple[str, ...],
              default_mode: str) -> tuple[str, ...]:
    """The modes other than the framework's default that case ``index`` of ``count``
    in a cell is also checked in: every one of ``modes`` where the profile samples the
    case (its cell's source, the dtype, and ``mode_examples`` cases of a cell spread
    evenly over it; 0: all of them), none elsewhere."""
    others = tuple(m for m in modes if m != default_mode)
    if not others or cell.source not in profile.mode_sources or dtype not in profile.mode_dtypes:
        return ()
    want = profile.mode_examples
    if want and count > want and index not in {i * count // want for i in range(want)}:
        return ()
    return others


def search_key(cell: Cell, framework: str, device: str, dtype: str) -> str:
    return f"{cell.id}#search|{framework}|{device}|{dtype}"


def unit_plan(cell: Cell, framework: str, default_mode: str, dtypes: tuple[str, ...], devices: tuple[str, ...],
              profile: Profile, seed: int, modes: tuple[str, ...] = ()
              ) -> Iterator[tuple[str, Case | None, str, str, str | None]]:
    """One framework's units of a cell, in order, before any is computed: (key, case,
    device, dtype, mode) for a case (mode None: the framework's default) and case None
    for a worst-case search. ``cell_units`` computes them; ``planned`` counts them."""
    devices = tuple(d for d in devices if cell.runs_on(d))
    cases = cases_for(cell, profile.examples, seed)
    for index, case in enumerate(cases):
        for dtype in dtypes:
            for device in devices:
                yield check_key(cell, index, case, framework, device, dtype), case, device, dtype, None
                for mode in modes_for(cell, index, len(cases), dtype, profile, modes, default_mode):
                    yield check_key(cell, index, case, framework, device, dtype, mode), case, device, dtype, mode
    for dtype in (d for d in dtypes if searchable(cell, profile, d)):
        for device in devices:
            yield search_key(cell, framework, device, dtype), None, device, dtype, None


def cell_units(checker: Checker, cell: Cell, dtypes: tuple[str, ...], devices: tuple[str, ...], profile: Profile,
               seed: int, done: Callable[[str], bool], last_of_loss: bool, modes: tuple[str, ...] = ()) -> list[Unit]:
    """One framework's share of a cell: its cases in every dtype and device (and the
    sampled ones in every other mode of ``modes``), then the searches; ``release``
    when the cell is the loss's last."""
    out = []
    default_mode = getattr(checker, "default_mode", "eager")
    for key, case, device, dtype, mode in unit_plan(cell, checker.name, default_mode, dtypes, devices, profile,
                                                     seed, modes):
        if done(key):
            continue
        if case is None:
            out.append(Unit(key, searched(cell, checker, device, dtype, profile, seed)))
        else:
            records = checker.check(case, device, dtype) if mode is None else checker.check(case, device, dtype, mode)
            out.append(Unit(key, [(case, records)]))
    if last_of_loss:
        checker.release()
    return out


def planned(frameworks: list[FrameworkAdapter | Checker], cell_list: list[Cell], dtypes: tuple[str, ...],
            devices: tuple[str, ...], profile: Profile, seed: int,
            done: Callable[[str], bool] = lambda key: False, modes: tuple[str, ...] = ()) -> dict[str, str]:
    """The units ``iterate`` will yield with the same arguments, known before any is
    computed: key -> its loss (a resumed run's done units left out). How many checks
    a unit makes is known only once it has run (a search makes as many as it finds)."""
    defaults = {}
    for f in frameworks:
        defaults.setdefault(f.name, getattr(f, "default_mode", "eager"))
    return {key: cell.loss for cell in cell_list for name, default_mode in defaults.items()
            for key, *_ in unit_plan(cell, name, default_mode, dtypes, devices, profile, seed, modes)
            if not done(key)}


# -- the whole run ------------------------------------------------------------------------------
def iterate(frameworks: list[FrameworkAdapter | Checker], cell_list: list[Cell], dtypes: tuple[str, ...],
            devices: tuple[str, ...], profile: Profile, seed: int,
            done: Callable[[str], bool] = lambda key: False, parallel: bool = False,
            modes: tuple[str, ...] = ()) -> Iterator[Unit]:
    """Every unit of every cell on every framework, device and dtype, cell by cell and
    framework by framework (always this order, so results are identical however they
    were computed). Several checkers of one name share that framework's cells (cell i
    goes to the (i mod k)-th), so a slow framework can use the cores the others leave
    idle. With ``parallel`` (worker processes only) each checker runs ahead in its own
    thread. ``done`` skips the units (``Unit.key``) a resumed run already holds.
    Checkers are told when they have finished a loss (``release``), so per-shape
    caches do not grow. ``modes``: the execution modes checked besides each
    framework's default, on the cases the profile samples (``modes_for``)."""
    checkers = [as_checker(f) for f in frameworks]
    groups: dict[str, list[Checker]] = {}
    for c in checkers:
        groups.setdefault(c.name, []).append(c)
    for cell in cell_list:                       # make every case here, in one thread
        cases_for(cell, profile.examples, seed)
    plan = _Plan(groups, cell_list)

    def work(name: str, i: int, skip: Callable[[str], bool] = done) -> list[Unit]:
        return cell_units(plan.checker(name, i), cell_list[i], dtypes, devices, profile, seed, skip,
                          plan.last_of_loss(name, i), modes)
    if not parallel or len(checkers) < 2:
        for i in range(len(cell_list)):
            for name in groups:
                yield from work(name, i)
        return
    yield from _in_threads(plan, checkers, work, done)


class _Plan:
    """Which checker of a framework gets cell i, and after which cell it releases a loss."""

    def __init__(self, groups: dict[str, list[Checker]], cell_list: list[Cell]) -> None:
        self.groups, self.cells = groups, cell_list
        self._last: set[tuple[str, int]] = set()
        for name in groups:                       # one backward pass per framework
            seen: set[tuple[str, int]] = set()
            for i in reversed(range(len(cell_list))):
                if (cell_list[i].loss, self.owner(name, i)) not in seen:
                    seen.add((cell_list[i].loss, self.owner(name, i)))
                    self._last.add((name, i))

    def owner(self, name: str, i: int) -> int:
        return i % len(self.groups[name])

    def checker(self, name: str, i: int) -> Checker:
        return self.groups[name][self.owner(name, i)]

    def last_of_loss(self, name: str, i: int) -> bool:
        return (name, i) in self._last


def _in_threads(plan: _Plan, checkers: list[Checker], work: Callable[..., list[Unit]],
                done: Callable[[str], bool]) -> Iterator[Unit]:
    """Each checker computes its cells in a thread of its own, ahead of the consumer;
    the units still come out in the canonical order. A consumer that stops early (an
    error, Ctrl-C) stops the threads and their workers."""
    streams = {(name, k): queue.Queue() for name, members in plan.groups.items() for k in range(len(members))}
    stop = threading.Event()

    def skip(key: str) -> bool:                   # once stopped, the threads skip the rest
        return stop.is_set() or done(key)

    def pump(name: str, k: int) -> None:
        try:
            for i in range(len(plan.cells)):
                if stop.is_set():
                    return
                if plan.owner(name, i) == k:
                    streams[name, k].put((None, work(name, i, skip)))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            streams[name, k].put((exc, None))
    threads = [threading.Thread(target=pump, args=key, name=f"pump-{key[0]}-{key[1]}", daemon=True)
               for key in streams]
    for t in threads:
        t.start()
    completed = False
    try:
        for i in range(len(plan.cells)):
            for name in plan.groups:
                failure, found = streams[name, plan.owner(name, i)].get()
                if failure is not None:
                    raise failure
                yield from found
        completed = True
    finally:
        if not completed:
            stop.set()
            for c in checkers:
                getattr(c, "interrupt", lambda: None)()
            for t in threads:
                t.join(10)
