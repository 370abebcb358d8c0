"""Records: what one check concluded, one line of results.jsonl each.

A record is one (case, framework, device, dtype, check) with its ``outcome`` (one
of the closed set ``OUTCOMES``) and the measured error in eps units. It is frozen;
an engine step that adds to a record makes a new one (``dataclasses.replace``).
``to_json`` writes exactly the fields that say something: the coordinates, the
check, outcome, error and detail always; ``finding`` on every failing record (null
when no known finding explains it); the other fields when they are set.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Mapping, get_args

Outcome = Literal["agree", "documented", "mismatch", "nonfinite-mismatch", "error-mismatch",
                  "device-mismatch", "mode-mismatch", "crash", "timeout", "unsupported", "undefined"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
#: the outcomes that are a discrepancy (the gate, the matrix and --strict count them)
FAILING: tuple[Outcome, ...] = ("mismatch", "nonfinite-mismatch", "error-mismatch", "device-mismatch",
                                "mode-mismatch", "crash", "timeout")
SupportKind = Literal["native", "composed", "unsupported"]
#: an array as a record shows it: {dtype, shape, data} with at most a few elements
Summary = Mapping[str, Any]


@dataclass(frozen=True)
class Record:
    # where: the case and what it was run on
    case: str
    loss: str
    variant: str
    reduction: str
    origin: str
    framework: str
    device: str
    dtype: str
    # what was checked and what came of it
    check: str                                  # value | grad:<argument> | device:<check> | mode:<check>
    outcome: Outcome
    error_eps: float | str | None = None        # worst error in eps * scale; "inf" unbounded; None not measured
    detail: str = ""
    # how the framework covered the case
    mode: str | None = None                     # the execution mode (vocab/modes.py); None: the framework's default
    support: SupportKind | None = None
    api: str | None = None
    k: float | None = None
    claimed: bool | None = None                 # the adapter claims this dtype
    # the numbers
    expected: Summary | None = None
    actual: Summary | None = None
    policy_expected: Summary | None = None
    cpu: Summary | None = None                  # device-mismatch: the same framework on the CPU
    plain: Summary | None = None                # mode-mismatch: the same framework in its default mode
    at: tuple[int, ...] | None = None           # index of the worst element
    citation: str | None = None
    policy_error_eps: float | str | None = None
    raised: str | None = None                   # the framework's error text
    refused: Literal["forward", "backward"] | None = None
    finding: str | None = None                  # the known finding explaining a failing record
    search: Mapping[str, Any] | None = None     # the worst case of a search: how it was found
    error_ulp: float | str | None = None        # worst error in ulps of the correctly rounded result; "inf"

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name not in ALWAYS and not (f.name == "finding" and self.failing):
                continue
            out[f.name] = list(value) if f.name == "at" else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Record":
        """A record of results.jsonl (checked by results.RECORD first); unknown keys, which
        a newer writer may add, are not kept."""
        known = {k: v for k, v in data.items() if k in FIELDS}
        if known.get("at") is not None:
            known["at"] = tuple(known["at"])
        return cls(**known)


FIELDS = frozenset(f.name for f in dataclasses.fields(Record))
#: written even when None
ALWAYS = frozenset({"case", "loss", "variant", "reduction", "origin", "framework", "device", "dtype", "check",
                    "outcome", "error_eps", "detail"})
