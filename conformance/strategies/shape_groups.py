"""Generated cases come in groups that share one shape.

A compiled framework pays for every new (loss, shape, dtype): JAX traces,
lowers and compiles the loss and its gradient again, which costs far more than
a call it has compiled (figures: docs/speed.md). So
``strategies.draw_cases`` draws a cell's cases in groups: the first case alone
(Hypothesis starts with its simplest example: batch 1, the fewest classes),
then groups of ``GROUP`` cases whose sizes are the group's first case's, with
values drawn afresh (one Hypothesis run draws the groups' first cases, one run
per group the rest, with the sizes pinned). A cell of 4 cases has 2 shapes instead of 4; one of 12 has
4. Which shapes are drawn is unchanged: the first case of each group draws its
sizes as before. The worst-case search draws freely (no groups): it explores
shapes as well as values.

The layouts draw every size through ``size`` with a label ("dim N", "shape",
"classes"…); while a group is being drawn, a label already drawn by the
group's first case returns that value instead of drawing.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

GROUP = 4


class Plan:
    """Sizes for one Hypothesis run: ``pinned`` (the group's, or None to draw
    them) and, per case drawn, the sizes it has (``sizes``)."""

    def __init__(self, pinned: dict[str, Any] | None = None) -> None:
        self.pinned = pinned
        self.seen: dict[str, Any] = {}
        self.sizes: list[dict[str, Any]] = []

    def drawn(self) -> None:
        """The case just drawn was kept: remember its sizes."""
        self.sizes.append(dict(self.seen))


def leaders(count: int, group: int = GROUP) -> int:
    """How many cases of ``count`` draw their own sizes: the first, then one per group."""
    return count if count <= 1 else 1 + -(-(count - 1) // group)


_active = threading.local()


@contextmanager
def grouped(plan: Plan) -> Iterator[Plan]:
    """Sizes drawn in this thread follow ``plan`` until the block ends."""
    _active.plan = plan
    try:
        yield plan
    finally:
        _active.plan = None


def start_case() -> None:
    """A new case is being drawn: forget the sizes of the last one."""
    plan = getattr(_active, "plan", None)
    if plan is not None:
        plan.seen = {}


def size(draw: Any, strategy: Any, label: str) -> Any:
    """A size (or a tuple of them) drawn with ``label``, or the group's. A run
    either pins a label in every case or in none, so Hypothesis sees one
    consistent structure of draws per run."""
    plan = getattr(_active, "plan", None)
    if plan is not None and plan.pinned is not None and label in plan.pinned:
        value = plan.pinned[label]
    else:
        value = draw(strategy, label=label)
    if plan is not None:
        plan.seen[label] = value
    return value
