"""Worker processes for the frameworks (one each; ``FrameworkAdapter.workers`` more):
a crash or a hang costs one case, not the run.

The parent sends a case (JSON) with the device and dtype; the worker runs
``engine.check`` on its own adapter and sends the records back (JSON over a
pipe: nothing is unpickled from a file). If the worker dies (abort, segfault,
out of memory) the case gets a ``crash`` record; if it does not answer within
``timeout`` seconds it is killed and the case gets a ``timeout`` record. Either
way a fresh worker is started for the next case and the run carries on. A
worker whose framework reported a sticky device error (a CUDA device-side
assert leaves the context unusable: every later call would fail) is also
replaced after that case.

A cell's worst-case search runs in the worker too (``search``): Hypothesis
then runs in each framework's process at once, where in the parent the
frameworks' searches took turns (one Hypothesis run at a time per process),
and the slowest framework's searches held up everyone's. If the worker dies or
hangs during a search, the parent searches that cell itself, case by case
through the worker, so the case that kills it gets its crash record.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import re
import signal
from typing import Any

from adapters.base import AdapterContractError
from adapters.user import load

from . import engine, frameworks
from .cells import Cell
from .check import base
from .profiles import Profile
from .vocab.case import Case
from .vocab.records import Record

STOP, CHECK, RELEASE, SEARCH = "stop", "check", "release", "search"
CONTRACT = "contract_error"     # the adapter broke the protocol: the run stops with this message
#: errors after which a device stays broken in this process
STICKY_DEVICE_ERROR = re.compile(r"CUDA error|device-side assert|CUDA_ERROR_|cudaError")


def _serve(conn: Any, framework: str, user_spec: str | None) -> None:
    """The worker's loop (in the child process)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to handle: it stops the workers
    adapter = _adapter(framework, user_spec)
    while True:
        try:
            reply = _answer(json.loads(conn.recv_bytes()), adapter)
        except AdapterContractError as exc:
            reply = {CONTRACT: str(exc)}
        if reply is None:
            return
        conn.send_bytes(json.dumps(reply, allow_nan=False).encode())


def _answer(message: dict[str, Any], adapter: Any) -> Any:
    """The reply to one message (None: stop)."""
    if message["op"] == STOP:
        return None
    if message["op"] == RELEASE:
        adapter.release()
        return {}
    if message["op"] == SEARCH:
        raw = message["cell"]
        cell = Cell(**{**raw, "shapes": tuple(tuple(s) for s in raw["shapes"])})
        profile = profile_from_json(message["profile"])
        found = engine.searched(cell, engine.InProcess(adapter), message["device"], message["dtype"],
                                profile, message["seed"])
        return [[c.to_json(), [r.to_json() for r in rs]] for c, rs in found]
    case = Case.from_json(message["case"])
    return [r.to_json() for r in engine.check(case, adapter, message["device"], message["dtype"],
                                              message.get("mode"))]


def profile_to_json(profile: Profile) -> dict[str, Any]:
    return dataclasses.asdict(profile)


def profile_from_json(raw: dict[str, Any]) -> Profile:
    tuples = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) for k, v in raw.items()
              if isinstance(v, list)}
    return Profile(**{**raw, **tuples})


def _adapter(framework: str, user_spec: str | None) -> Any:
    if user_spec is not None:
        return load(user_spec)
    return frameworks.get(framework)


class IsolatedAdapter:
    """Stands in for an adapter in the engine's loop: ``check`` and ``release``
    run in the worker process. ``name``, ``version`` and ``user_spec`` identify it;
    ``default_mode`` is the adapter's (the engine samples the other modes)."""

    #: a case in a compiled mode may take this many times ``timeout`` (its first compile)
    COMPILE_ALLOWANCE = 3

    def __init__(self, name: str, *, user_spec: str | None = None, timeout: float = 120.0,
                 default_mode: str = "eager") -> None:
        self.name, self.user_spec, self.timeout = name, user_spec, timeout
        self.default_mode = default_mode
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Any = None
        self._stopped = False

    # -- the worker's lifetime ------------------------------------------------------
    def _start(self) -> None:
        # Ctrl-C or SIGTERM in the middle of a spawn would leave the child half started
        # (and printing a traceback): they wait until the worker is up.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            parent, child = self._context.Pipe()
            self._process = self._context.Process(target=_serve, args=(child, self.name, self.user_spec),
                                                  name=f"conformance-{self.name}", daemon=True)
            self._process.start()
            child.close()
            self._conn = parent
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def interrupt(self) -> None:
        """Stop now, from any thread (the run was interrupted): the worker is killed and
        no new one is started, so a call in flight returns at once."""
        self._stopped = True
        process = self._process
        if process is not None and process.is_alive():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.kill()

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def close(self, *, fast: bool = False) -> None:
        """Stop the worker: politely, or (``fast``, a run that was interrupted) at once."""
        if not fast and self._process is not None and self._process.is_alive():
            try:
                self._conn.send_bytes(json.dumps({"op": STOP}).encode())
                self._process.join(10)
            except (OSError, ValueError):
                pass
        self._kill()

    # -- what the engine calls -------------------------------------------------------
    def release(self) -> None:
        if self._process is not None:
            self._call({"op": RELEASE})

    def search(self, cell: Any, device: str, dtype: str, profile: Profile,
               seed: int) -> list[tuple[Case, list[Record]]] | None:
        """The worst-case search of a cell, run in the worker (``engine.searched``);
        None when the worker crashed or hung on it (the caller then searches case
        by case, each case isolated, so the culprit gets its crash record)."""
        checks = 2 * (profile.search_examples + profile.search_shrink) + 8     # generous: Hypothesis' own extras
        message = {"op": SEARCH, "cell": dataclasses.asdict(cell), "device": device, "dtype": dtype,
                   "profile": profile_to_json(profile), "seed": seed}
        reply = self._call(message, timeout=self.timeout * checks)
        _raise_contract_error(reply)
        if not isinstance(reply, list):
            return None
        found = [(Case.from_json(c), [Record.from_json(r) for r in rs]) for c, rs in reply]
        self._replace_if_device_broken([r for _, rs in found for r in rs])
        return found

    def check(self, case: Case, device: str, dtype: str, mode: str | None = None) -> list[Record]:
        message = {"op": CHECK, "case": case.to_json(), "device": device, "dtype": dtype}
        if mode is not None and mode != self.default_mode:
            message["mode"] = mode
        else:
            mode = None
        reply = self._call(message, timeout=self.timeout * (self.COMPILE_ALLOWANCE if mode else 1))
        _raise_contract_error(reply)
        if isinstance(reply, list):
            records = [Record.from_json(r) for r in reply]
            self._replace_if_device_broken(records)
            return records
        outcome, detail = reply
        return [Record(**base(case, self.name, device, dtype, mode), check="value", outcome=outcome,
                       detail=detail)]

    def _replace_if_device_broken(self, records: list[Record]) -> None:
        """After a sticky device error the next call gets a fresh worker and device context."""
        if any(STICKY_DEVICE_ERROR.search(r.raised or "") for r in records):
            self.close()

    def _call(self, message: dict[str, Any], timeout: float | None = None) -> Any:
        """The worker's reply, or (outcome, detail) when it crashed or hung."""
        timeout = self.timeout if timeout is None else timeout
        if self._stopped:
            return "crash", "the run was interrupted"
        if self._process is None or not self._process.is_alive():
            self._kill()
            self._start()
        try:
            self._conn.send_bytes(json.dumps(message, allow_nan=False).encode())
            if not self._conn.poll(timeout):
                self._kill()
                return "timeout", f"no answer within {timeout:g} s; the worker was killed"
            return json.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            self._process.join(5)
            code = self._process.exitcode
            self._kill()
            return "crash", f"the {self.name} worker died ({_describe(code)}) on this case"


def _raise_contract_error(reply: Any) -> None:
    if isinstance(reply, dict) and CONTRACT in reply:
        raise AdapterContractError(reply[CONTRACT])


def _describe(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
