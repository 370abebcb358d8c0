"""The engine: cases -> oracle -> adapter -> compare -> records.

Both the pytest matrix and the command line call ``cells``, ``cases_for`` and
``check``; neither re-implements them. A record is a plain dict (one JSON Lines
row): one (case, framework, device, dtype, check) with its outcome.
"""
from __future__ import annotations

import collections
import queue
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator

import numpy as np

import reference
from adapters.base import AdapterContractError, FrameworkAdapter

from . import catalog, corpus, documents, edge_cases, findings, large, search, strategies
from .case import Case, encode_array
from .compare import FAILING, Verdict, judge
from .dtypes import round_to
from .profiles import Profile
from .tolerance import for_dtype

SUMMARY_ELEMENTS = 24


@dataclass(frozen=True)
class Cell:
    """One row of the matrix: generated cases of a (loss, variant, reduction), or
    a loss's edge cases / document examples (reduction None: they carry their own)."""
    loss: str
    variant: str
    reduction: str | None = None
    shapes: tuple[tuple[int, int], ...] = ()   # the LLM-scale cells' (tokens, classes)

    @property
    def id(self) -> str:
        return "-".join(p for p in (self.loss, self.variant, self.reduction) if p)


LARGE = {"large": "cpu", "large_cuda": "cuda"}     # LLM-scale cell variant -> the device it runs on


def cells(losses: tuple[str, ...] | None = None, profile: Profile | None = None) -> list[Cell]:
    out = []
    for spec in catalog.catalog().values():
        if losses and spec.name not in losses:
            continue
        # what is replayed (the corpus, edge cases, documents) comes before what is explored
        out += [Cell(spec.name, "corpus")] if corpus.cases(spec.name) else []
        out += [Cell(spec.name, "edge"), Cell(spec.name, "document")]
        out += [Cell(spec.name, v, r) for v in spec.variants for r in spec.reductions]
        if profile is not None and spec.name in profile.large_losses:
            out += [Cell(spec.name, "large", "mean", profile.large_shapes),
                    Cell(spec.name, "large_cuda", "mean", profile.large_shapes_cuda)]
    return out


def cases_for(cell: Cell, examples: int, seed: int) -> tuple[Case, ...]:
    """The cases of a cell: the corpus (kept by ``corpus``, which ``run --corpus`` may
    point elsewhere), or drawn once and kept."""
    if cell.variant == "corpus":
        return corpus.cases(cell.loss)
    return _drawn(cell, examples, seed)


@lru_cache(maxsize=None)
def _drawn(cell: Cell, examples: int, seed: int) -> tuple[Case, ...]:
    if cell.variant == "edge":
        return tuple(edge_cases.edge_cases(cell.loss))
    if cell.variant == "document":
        return tuple(documents.for_loss(cell.loss))
    if cell.variant in LARGE:
        return tuple(large.cases(cell.loss, cell.variant, cell.reduction, cell.shapes, seed))
    cell_seed = zlib.crc32(f"{seed}:{cell.id}".encode())
    return tuple(strategies.draw_cases(catalog.get(cell.loss), cell.variant, cell.reduction,
                                       count=examples, seed_value=cell_seed))


def clear_case_cache() -> None:
    """Forget the drawn cases (tests that change the strategies' inputs)."""
    _drawn.cache_clear()


@dataclass(frozen=True)
class Oracle:
    arrays: dict[str, np.ndarray]           # inputs rounded to the dtype (float64 containers)
    evaluation: reference.Evaluation | None
    error: str | None                       # DomainError text: the input must be refused
    value_dependent: bool = False           # the refusal depends on array values


def _evaluate(case: Case, arrays, policies=None) -> tuple[reference.Evaluation | None, str | None, bool]:
    try:
        with np.errstate(all="ignore"):
            return reference.evaluate(case.loss, arrays, case.params, case.reduction, policies), None, False
    except reference.DomainError as exc:
        return None, str(exc), exc.value_dependent


ORACLE_CACHE_BYTES = 512 << 20     # the frameworks of one cell share an evaluation; LLM-scale ones are big
_oracle_cache: collections.OrderedDict[tuple[str, str], tuple[Oracle, int]] = collections.OrderedDict()
_cached_bytes = [0]


def oracle(case: Case, dtype: str) -> Oracle:
    """The oracle's evaluation of a case in a dtype, kept in a cache of bounded size
    (least recently used first out)."""
    key = (case.id, dtype)
    if key in _oracle_cache:
        _oracle_cache.move_to_end(key)
        return _oracle_cache[key][0]
    arrays = {k: round_to(v, dtype) for k, v in case.arrays.items()}
    found = Oracle(arrays, *_evaluate(case, arrays))
    _oracle_cache[key] = (found, _nbytes(found))
    _cached_bytes[0] += _oracle_cache[key][1]
    while _cached_bytes[0] > ORACLE_CACHE_BYTES and len(_oracle_cache) > 1:
        _cached_bytes[0] -= _oracle_cache.popitem(last=False)[1][1]
    return found


def clear_oracle_cache() -> None:
    _oracle_cache.clear()
    _cached_bytes[0] = 0


def _nbytes(o: Oracle) -> int:
    ev = o.evaluation
    arrays = list(o.arrays.values())
    if ev is not None:
        arrays += [ev.value, ev.scale, *ev.grad_scales.values()]
        arrays += [b for lo, hi in ev.grads.values() for b in ((lo,) if lo is hi else (lo, hi))]
    return sum(np.asarray(a).nbytes for a in arrays)


def differentiable(case: Case, o: Oracle) -> tuple[str, ...]:
    """The arguments whose gradient is checked: the catalog's differentiable ones
    that hold real numbers in this case (none when the oracle refuses the input)."""
    if o.error is not None:
        return ()
    return tuple(n for n in catalog.get(case.loss).differentiable
                 if n in o.arrays and np.issubdtype(o.arrays[n].dtype, np.floating))


def summary(a: Any) -> dict[str, Any]:
    """A JSON-safe, truncated view of an array for records."""
    enc = encode_array(np.asarray(a, dtype=np.float64))
    enc["data"] = enc["data"][:SUMMARY_ELEMENTS]
    return enc


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"


def _run(adapter: FrameworkAdapter, case: Case, arrays, dtype: str, device: str,
         wrt: tuple[str, ...]) -> tuple[Any, str | None, str | None]:
    """(output, forward failure, backward failure). When forward + backward fails,
    the forward alone is retried, so a refused backward is told from a refused forward."""
    try:
        with np.errstate(all="ignore"):
            return adapter.run(case, arrays, dtype, device, wrt), None, None
    except AdapterContractError:
        raise                       # the adapter's fault, not the framework's refusal
    except Exception as exc:  # noqa: BLE001 - the framework's refusal is data
        failure = _error_text(exc)
    if wrt:
        try:
            with np.errstate(all="ignore"):
                return adapter.run(case, arrays, dtype, device, ()), None, failure
        except AdapterContractError:
            raise
        except Exception:  # noqa: BLE001
            pass
    return None, failure, None


def check(case: Case, adapter: FrameworkAdapter, device: str, dtype: str) -> list[dict[str, Any]]:
    """Every record for one case on one framework, device and dtype; a failing
    record that a known finding explains carries the finding's id."""
    records = _check(case, adapter, device, dtype)
    for r in records:
        if r["outcome"] in FAILING:
            known = findings.explain(r, case)
            r["finding"] = known.id if known else None
    return records


def record_base(case: Case, framework: str, device: str, dtype: str) -> dict[str, Any]:
    """The fields every record of a (case, framework, device, dtype) starts with."""
    return {"case": case.id, "loss": case.loss, "variant": case.variant, "reduction": case.reduction,
            "origin": case.origin, "framework": framework, "device": device, "dtype": dtype}


def _check(case: Case, adapter: FrameworkAdapter, device: str, dtype: str) -> list[dict[str, Any]]:
    base = record_base(case, adapter.name, device, dtype)
    tol = for_dtype(dtype)
    support = adapter.support(case)
    base.update(support=support.kind, api=support.api, k=tol.k, claimed=dtype in adapter.claimed_dtypes(case.loss))

    def record(check_name: str, outcome: str, error_eps: float | None = None, detail: str = "",
               **extra: Any) -> dict[str, Any]:
        eps_units = None if error_eps is None else (error_eps if np.isfinite(error_eps) else "inf")
        return {**base, "check": check_name, "outcome": outcome, "error_eps": eps_units,
                "detail": detail, **extra}

    if support.kind == "unsupported":
        return [record("value", "unsupported", detail=support.reason)]
    if device not in adapter.devices():
        return [record("value", "unsupported", detail=f"device {device!r} is not available to {adapter.name}")]
    o = oracle(case, dtype)
    wrt = differentiable(case, o)
    out, failure, backward_failure = _run(adapter, case, o.arrays, dtype, device, wrt)
    if o.error is not None:
        if failure is not None:
            return [record("value", "agree", detail=f"both refuse. oracle: {o.error}", raised=failure)]
        got = summary(out.value)
        if adapter.unchecked_values is not None and o.value_dependent:
            p = adapter.unchecked_values
            return [record("value", "documented", detail=f"the oracle refuses ({o.error}); {p.summary}",
                           actual=got, citation=p.citation)]
        return [record("value", "error-mismatch", actual=got,
                       detail=f"the oracle refuses ({o.error}) but {adapter.name} returned a value")]

    def refused(check_name: str, stage: str, text: str) -> dict[str, Any]:
        """A refusal of valid input: unsupported (with the framework's own words)
        in a dtype the adapter does not claim, error-mismatch in one it does."""
        if not base["claimed"]:
            return record(check_name, "unsupported", raised=text, refused=stage,
                          detail=f"{adapter.name} does not claim {dtype} for {case.loss}; its {stage} says: {text}")
        return record(check_name, "error-mismatch", raised=text, refused=stage,
                      detail=f"{adapter.name} refused valid input ({stage})")
    if failure is not None:
        return [refused("value", "forward", failure)]
    policy = adapter.policy(case.loss)
    policy_evals: list[reference.Evaluation | None] = []

    def by_policy(name: str) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """The policy oracle's (bounds, scale) for a check, evaluated once, on first need."""
        if not policy_evals:
            policy_evals.append(_evaluate(case, o.arrays, policy.knobs_for(dtype))[0])
        pe = policy_evals[0]
        if name == "value":
            return (pe.value, pe.value), pe.scale
        arg = name.split(":", 1)[1]
        return pe.grads[arg], pe.grad_scales[arg]

    ev = o.evaluation
    checks = [("value", (ev.value, ev.value), ev.scale, out.value)]
    if backward_failure is None:
        checks += [(f"grad:{n}", ev.grads[n], ev.grad_scales[n], out.grads.get(n)) for n in wrt]
    records = []
    for name, (lo, hi), scale, actual in checks:
        verdict = judge(lo, hi, scale, actual, tol)
        extra: dict[str, Any] = {"expected": summary(lo), "actual": summary(actual)}
        if verdict.outcome != "agree" and policy is not None:
            (plo, phi), pscale = by_policy(name)
            pv: Verdict = judge(plo, phi, pscale, actual, tol)
            extra["policy_expected"] = summary(plo)
            if pv.outcome == "agree":
                records.append(record(name, "documented", verdict.error_eps,
                                      f"{policy.summary}; the mathematics: {verdict.detail}",
                                      citation=policy.citation, policy_error_eps=pv.error_eps, **extra))
                continue
            # It misses its own documented policy too: report what remains beyond it.
            verdict = Verdict(pv.outcome, pv.error_eps,
                              f"beyond its documented policy ({policy.summary}): {pv.detail}", pv.at)
        if verdict.at is not None:
            extra["at"] = list(verdict.at)
        records.append(record(name, verdict.outcome, verdict.error_eps, verdict.detail, **extra))
    if backward_failure is not None:
        records += [refused(f"grad:{n}", "backward", backward_failure) for n in wrt]
    if device != "cpu" and "cpu" in adapter.devices():
        records += _against_cpu(adapter, case, o, dtype, device, wrt, out, backward_failure, record, tol)
    return records


def _against_cpu(adapter: FrameworkAdapter, case: Case, o: Oracle, dtype: str, device: str, wrt: tuple[str, ...],
                 out: Any, backward_failure: str | None, record: Callable[..., dict], tol: Any) -> list[dict]:
    """The same framework on the CPU, same inputs: a ``device-mismatch`` record per
    check where the device's result differs from the CPU's beyond the tolerance
    (with the oracle's scale), or where only one of them refuses."""
    cpu, cpu_failure, cpu_backward_failure = _run(adapter, case, o.arrays, dtype, "cpu", wrt)
    if cpu_failure is not None:
        return [record("device:value", "device-mismatch", detail=f"the cpu refuses what {device} computes",
                       raised=cpu_failure)]
    if (cpu_backward_failure is None) != (backward_failure is None):
        return [record("device:grad", "device-mismatch",
                       detail=f"the backward is refused on {'cpu' if backward_failure is None else device} only",
                       raised=cpu_backward_failure or backward_failure)]
    ev = o.evaluation
    pairs = [("value", cpu.value, out.value, ev.scale)]
    if backward_failure is None:
        pairs += [(f"grad:{n}", cpu.grads.get(n), out.grads.get(n), ev.grad_scales[n]) for n in wrt]
    found = []
    for name, on_cpu, on_device, scale in pairs:
        verdict = device_verdict(on_cpu, on_device, scale, tol)
        if verdict.outcome != "agree":
            found.append(record(f"device:{name}", "device-mismatch", verdict.error_eps,
                                f"{device} vs cpu: {verdict.detail}", cpu=summary(on_cpu), actual=summary(on_device)))
    return found


def device_verdict(on_cpu: Any, on_device: Any, scale: Any, tol: Any) -> Verdict:
    """A device's result against the same framework's CPU result. Identical
    results (NaN where NaN) agree, whatever they are; otherwise the tolerance is
    the oracle's scale or the magnitude of the CPU result, whichever is larger
    (the oracle's scale may be infinite, an infinite term the framework clamps,
    or 0, where it expects an exact 0 that neither device computes): both are
    the framework's answers, neither is the mathematics."""
    if on_cpu is not None and on_device is not None and np.shape(on_cpu) == np.shape(on_device) and \
            np.array_equal(np.asarray(on_cpu, np.float64), np.asarray(on_device, np.float64), equal_nan=True):
        return Verdict("agree", 0.0)
    if on_cpu is not None:
        scale = np.broadcast_to(np.asarray(scale, np.float64), np.shape(on_cpu))
        magnitude = np.abs(np.asarray(on_cpu, np.float64))
        scale = np.where(np.isfinite(scale), np.maximum(scale, magnitude), magnitude)
    return judge(on_cpu, on_cpu, scale, on_device, tol)


class InProcess:
    """Runs an adapter's checks in this process (the pytest matrix, the tests);
    ``worker.IsolatedAdapter`` runs them in a worker process instead."""

    def __init__(self, adapter: FrameworkAdapter) -> None:
        self.adapter, self.name = adapter, adapter.name

    def check(self, case: Case, device: str, dtype: str) -> list[dict[str, Any]]:
        return check(case, self.adapter, device, dtype)

    def release(self) -> None:
        self.adapter.release()


def as_checker(adapter_or_checker: Any) -> Any:
    return adapter_or_checker if hasattr(adapter_or_checker, "check") else InProcess(adapter_or_checker)


def searchable(cell: Cell, profile: Profile, dtype: str) -> bool:
    """Whether the profile searches this cell in this dtype (generated cells only)."""
    return (cell.variant in catalog.get(cell.loss).variants and bool(profile.search_examples)
            and dtype in profile.search_dtypes)


class _ContractBroken(BaseException):
    """Carries an AdapterContractError out of a Hypothesis search unshrunk."""


def searched(cell: Cell, adapter: Any, device: str, dtype: str, profile: Profile,
             seed: int) -> list[tuple[Case, list[dict[str, Any]]]]:
    """The worst (shrunk) case a targeted Hypothesis search finds for a generated
    cell on one framework, device and dtype, then any other failing case it met."""
    if not searchable(cell, profile, dtype):
        return []
    checker = as_checker(adapter)
    if hasattr(checker, "search"):
        # A worker process runs the search beside its framework: searches of
        # different frameworks then run at once instead of taking turns at
        # Hypothesis in this process. None: the worker failed, search here.
        found = checker.search(cell, device, dtype, profile, seed)
        if found is not None:
            return found
    def run_check(case: Case) -> list[dict[str, Any]]:
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
    found = [(worst.case, [{**r, "origin": "search", "search": stats} for r in worst.records])]
    return found + [(c, [{**r, "origin": "search"} for r in rs]) for c, rs in worst.failures]


@dataclass(frozen=True)
class Unit:
    """What the engine computes in one go, and a resumed run skips as a whole: one case
    on one framework, device and dtype (``key`` names the cell and the case's place in
    it, so a case met twice, in the corpus and drawn again, is two units), or one
    worst-case search. ``found``: its cases with their records (a search: several)."""
    key: str
    found: list[tuple[Case, list[dict[str, Any]]]]


def check_key(cell: Cell, index: int, case: Case, framework: str, device: str, dtype: str) -> str:
    return f"{cell.id}#{index}|{case.id}|{framework}|{device}|{dtype}"


def search_key(cell: Cell, framework: str, device: str, dtype: str) -> str:
    return f"{cell.id}#search|{framework}|{device}|{dtype}"


def _cell_work(checker: Any, cell: Cell, dtypes: tuple[str, ...], devices: tuple[str, ...], profile: Profile,
               seed: int, done: Callable[[str], bool], last_of_loss: bool) -> list[Unit]:
    """One framework's share of a cell: its cases in every dtype and device, then the
    searches; ``release`` when the cell is the loss's last."""
    out = []
    devices = tuple(d for d in devices if LARGE.get(cell.variant, d) == d)
    for index, case in enumerate(cases_for(cell, profile.examples, seed)):
        for dtype in dtypes:
            for device in devices:
                key = check_key(cell, index, case, checker.name, device, dtype)
                if not done(key):
                    out.append(Unit(key, [(case, checker.check(case, device, dtype))]))
    for dtype in (d for d in dtypes if searchable(cell, profile, d)):
        for device in devices:
            key = search_key(cell, checker.name, device, dtype)
            if not done(key):
                out.append(Unit(key, searched(cell, checker, device, dtype, profile, seed)))
    if last_of_loss:
        checker.release()
    return out


def iterate(frameworks: list[Any], cell_list: list[Cell], dtypes: tuple[str, ...],
            devices: tuple[str, ...], profile: Profile, seed: int,
            done: Callable[[str], bool] = lambda key: False,
            parallel: bool = False) -> Iterator[Unit]:
    """Every case of every cell on every framework/device/dtype, then the profile's
    worst-case searches, cell by cell and framework by framework (always this order,
    so results are identical however they were computed). ``frameworks`` are adapters
    or checkers (``InProcess``, ``worker.IsolatedAdapter``); several checkers of one
    name share that framework's cells (cell i goes to the (i mod k)-th), so a slow
    framework can use the cores the others leave idle. With ``parallel`` (worker
    processes only) each checker runs ahead in its own thread. ``done`` skips the units
    (``Unit.key``) a resumed run already holds. Checkers are told
    when they have finished a loss (``release``), so per-shape caches do not grow."""
    checkers = [as_checker(f) for f in frameworks]
    groups: dict[str, list[Any]] = {}
    for c in checkers:
        groups.setdefault(c.name, []).append(c)
    for cell in cell_list:                       # draw every case here, in one thread
        cases_for(cell, profile.examples, seed)

    def owner(name: str, i: int) -> int:
        return i % len(groups[name])

    # cell i is the last of its loss that this checker of a name gets: it then releases
    last_of_loss: set[tuple[str, int]] = set()
    for name in groups:
        seen: set[tuple[str, int]] = set()
        for i in reversed(range(len(cell_list))):
            if (cell_list[i].loss, owner(name, i)) not in seen:
                seen.add((cell_list[i].loss, owner(name, i)))
                last_of_loss.add((name, i))

    def work(name: str, i: int) -> list[Unit]:
        checker = groups[name][owner(name, i)]
        return _cell_work(checker, cell_list[i], dtypes, devices, profile, seed, done, (name, i) in last_of_loss)
    if not parallel or len(checkers) < 2:
        for i in range(len(cell_list)):
            for name in groups:
                yield from work(name, i)
        return
    streams = {(name, k): queue.Queue() for name, members in groups.items() for k in range(len(members))}
    stop = threading.Event()
    skip = done
    done = lambda key: stop.is_set() or skip(key)      # noqa: E731 - once stopped, the pumps skip the rest

    def pump(name: str, k: int) -> None:
        try:
            for i in range(len(cell_list)):
                if stop.is_set():
                    return
                if owner(name, i) == k:
                    streams[name, k].put((None, work(name, i)))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            streams[name, k].put((exc, None))
    threads = [threading.Thread(target=pump, args=key, name=f"pump-{key[0]}-{key[1]}", daemon=True)
               for key in streams]
    for t in threads:
        t.start()
    completed = False
    try:
        for i in range(len(cell_list)):
            for name in groups:
                failure, found = streams[name, owner(name, i)].get()
                if failure is not None:
                    raise failure
                yield from found
        completed = True
    finally:
        if not completed:    # the consumer stopped early (an error, Ctrl-C): stop the pumps and their workers
            stop.set()
            for c in checkers:
                getattr(c, "interrupt", lambda: None)()
            for t in threads:
                t.join(10)
