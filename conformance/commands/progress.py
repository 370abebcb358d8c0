"""What ``run`` shows on stderr while it works: on a terminal a bar (units done of
the units planned, the current loss, the checks made so far, elapsed time and an
estimate of the rest) with one line per finished loss above it; elsewhere (a log, CI)
only those lines, with no escape codes.

The bar counts units, not checks, because units are what is known in advance: a
unit is one case on one framework, device, dtype and mode, or one worst-case search,
and how many checks it makes (forward, gradient, a search's findings) is known only
once it has run. A resumed run plans only the units it does not hold yet.
"""
from __future__ import annotations

import os
import sys
import time
from typing import IO, Any

LINE = "  {loss:<18} {checks:>7} checks  ({elapsed:7.1f} s)"


def interactive(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal that can redraw a bar."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


class Progress:
    """Counts the units and checks of a run as they come, loss by loss.

    ``planned``: the units still to run; ``start``: ``time.perf_counter()`` at the
    run's start. A context manager: leaving it (at the end, or on Ctrl-C or an error)
    takes the bar off the terminal, so what is printed next is not garbled."""

    def __init__(self, planned: int, start: float, stream: IO[str] | None = None) -> None:
        self.planned, self.start = planned, start
        self.stream = sys.stderr if stream is None else stream
        self.loss: str | None = None
        self.checks = 0                 # of the current loss
        self.total_checks = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if interactive(self.stream):
            self._bar, self._task = _bar(self.stream, self.planned)
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def unit(self, loss: str, checks: int) -> None:
        """One unit of ``loss`` is done and written; it made ``checks`` checks."""
        if loss != self.loss:
            self.finish_loss()
            self.loss, self.checks = loss, 0
        self.checks += checks
        self.total_checks += checks
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=loss, checks=self.total_checks)

    def finish_loss(self) -> None:
        """The line of the loss under way, if any (the run moved on or ended)."""
        if self.loss is None:
            return
        line = LINE.format(loss=self.loss, checks=self.checks, elapsed=time.perf_counter() - self.start)
        if self._bar is not None:
            self._bar.console.print(line, highlight=False, markup=False)
        else:
            print(line, file=self.stream, flush=True)
        self.loss = None


def _bar(stream: IO[str], planned: int) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    console = Console(file=stream, force_terminal=True)
    bar = Bar(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TextColumn("units"),
              TextColumn("{task.fields[checks]} checks"), TimeElapsedColumn(), TextColumn("eta"),
              TimeRemainingColumn(), console=console, redirect_stdout=False, transient=True)
    return bar, bar.add_task("starting", total=planned, checks=0)
