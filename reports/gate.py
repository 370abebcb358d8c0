"""Baselines, the regression gate and the diff of two runs.

A *cell* is one (loss, variant, reduction, framework, device, dtype, check); its
statistics are how many checks ended in each outcome and the worst error in eps.
A baseline is those statistics written to a JSON file (with the versions and the
profile it came from). The gate compares a run against a baseline:

* a **regression** (the gate fails) is an outcome other than ``agree`` that the
  cell did not have in the baseline (a new ``mismatch``, a new ``crash``...), a
  worst error grown by more than ``factor`` to past the dtype's tolerance ``k``,
  or a baseline cell the run did not check;
* a **warning** (the gate still passes) is a worst error grown by more than
  ``factor`` that is still within ``k``: the framework got less accurate but
  still agrees;
* an **improvement** is a non-``agree`` outcome that is gone, or a worst error
  shrunk by more than ``factor``.

Growth is measured from at least 1 eps, so 0 -> 0.4 eps is noise, not a change.
Cells hold the checks made on the same inputs in every run — generated cases
(same profile and seed), the corpus, edge cases, documents — and leave out what
the worst-case search found: a targeted search follows the errors of the
framework it searches, so two versions are searched on different inputs.
What a search finds is compared once it is in the corpus (``corpus add``).
reports.gate_groups groups the changes by cause; reports.gate_outputs writes them
for CI.
"""
from __future__ import annotations

import collections
import gzip
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

from conformance.vocab import schema
from conformance.vocab.atomic import write_bytes
from conformance.vocab.records import OUTCOMES, Record
from conformance.vocab.schema import SchemaError
from conformance.vocab.tolerance import for_dtype

SCHEMA = "loss-conformance-baseline/1"
KEY_FIELDS = ("loss", "variant", "reduction", "framework", "device", "dtype", "mode", "check")
#: key fields a baseline may leave out (null): written only when set, so a baseline
#: of a run without modes (or of an earlier version) reads as the default mode
OPTIONAL_KEY_FIELDS = ("mode",)
DEFAULT_FACTOR = 2.0
ERROR_FLOOR_EPS = 1.0


class BaselineError(ValueError):
    """A baseline file that cannot be used: what is wrong and what to do."""


@dataclass
class CellStat:
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    worst_error_eps: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"outcomes": dict(sorted(self.outcomes.items())), "worst_error_eps": self.worst_error_eps}


def cell_key(record: Record, ignore: tuple[str, ...] = ()) -> tuple:
    return tuple(None if f in ignore else getattr(record, f) for f in KEY_FIELDS)


def cells(records: Iterable[Record], ignore: tuple[str, ...] = ()) -> dict[tuple, CellStat]:
    """Statistics per cell; ``ignore`` drops key fields (e.g. "device" to set a CPU
    run beside a GPU run)."""
    out: dict[tuple, CellStat] = collections.defaultdict(CellStat)
    for r in records:
        if r.origin == "search":
            continue
        stat = out[cell_key(r, ignore)]
        stat.outcomes[r.outcome] += 1
        err = r.error_eps
        if isinstance(err, (int, float)) and math.isfinite(err):
            stat.worst_error_eps = max(stat.worst_error_eps, float(err))
    return dict(out)


#: run settings that must be equal for a gate to compare like with like: the
#: same profile and seed draw the same generated cases, the same corpus replays
#: the same counterexamples, and an example database (kept worst cases from
#: earlier runs) would add inputs the other run never saw
SETTINGS = ("profile", "seed", "corpus", "hypothesis_database")


def _setting(run: Mapping[str, Any], key: str) -> Any:
    # the database's place differs between machines; whether there was one matters
    return bool(run.get(key)) if key == "hypothesis_database" else run.get(key)


def baseline(records: Iterable[Record], run: Mapping[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "frameworks": run.get("frameworks", {}),
            **{k: _setting(run, k) for k in SETTINGS}, "dtypes": run.get("dtypes"), "devices": run.get("devices"),
            "cells": [{f: v for f, v in zip(KEY_FIELDS, key) if v is not None or f not in OPTIONAL_KEY_FIELDS}
                      | stat.to_json()
                      for key, stat in sorted(cells(records).items(), key=lambda kv: str(kv[0]))]}


def write_baseline(path: Path, data: Mapping[str, Any]) -> None:
    """The header, then one cell per line (a readable diff when a baseline is
    regenerated); gzip-compressed when ``path`` ends in ``.gz``. Written to a
    temporary file and renamed: never half a baseline."""
    header = {k: v for k, v in data.items() if k != "cells"}
    text = json.dumps(header, sort_keys=True)[:-1] + ', "cells": [\n' + ",\n".join(
        json.dumps({**c, "worst_error_eps": _four_digits(c["worst_error_eps"])}, sort_keys=True, allow_nan=False)
        for c in data["cells"]) + "\n]}\n"
    raw = gzip.compress(text.encode(), mtime=0) if str(path).endswith(".gz") else text.encode()
    write_bytes(Path(path), raw)


_CELL = schema.obj({**{f: schema.nullable(str) for f in KEY_FIELDS if f not in OPTIONAL_KEY_FIELDS},
                    "outcomes": schema.map_of(int), "worst_error_eps": schema.NUMBER},
                   {f: schema.nullable(str) for f in OPTIONAL_KEY_FIELDS})
_BASELINE = schema.obj({"schema": str, "cells": schema.list_of(dict)},
                       {"frameworks": schema.map_of(str), "profile": schema.nullable(str), "seed": schema.nullable(int),
                        "corpus": schema.nullable(dict), "hypothesis_database": schema.nullable(bool)})


def _four_digits(x: float) -> float:
    """``x`` to 4 significant digits, never rounded past the largest float to inf."""
    rounded = float(f"{x:.4g}")
    return rounded if math.isfinite(rounded) else x


def load_baseline(path: Path) -> dict[str, Any]:
    """The baseline's header and cells, or BaselineError saying what is wrong."""
    try:
        raw = Path(path).read_bytes()
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        data = schema.parse_json(text.decode("utf-8"), f"baseline {path}", infinity=True)
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} does not exist; write one with "
                            "'python -m conformance baseline RESULTS --out FILE'") from None
    except IsADirectoryError:
        raise BaselineError(f"baseline {path} is a directory, not a baseline file") from None
    except (OSError, EOFError, zlib.error) as exc:       # a gzip file cut short or corrupt
        raise BaselineError(f"baseline {path} is not a readable gzip or JSON file "
                            f"({type(exc).__name__}: {exc})") from None
    except UnicodeDecodeError:
        raise BaselineError(f"baseline {path} is not UTF-8 text; not a baseline") from None
    except SchemaError as exc:
        raise BaselineError(str(exc)) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise BaselineError(f"baseline {path} has schema {found!r}, expected {SCHEMA!r}: "
                            "regenerate it with this version of the suite")
    stats = {}
    try:
        schema.check(data, _BASELINE, f"baseline {path}")
        for i, row in enumerate(data["cells"]):
            schema.check(row, _CELL, f"baseline {path}: cell {i}")
            unknown = sorted(set(row["outcomes"]) - set(OUTCOMES))
            if unknown:
                raise SchemaError(f"baseline {path}: cell {i}: unknown outcome {', '.join(unknown)}; "
                                  f"known: {', '.join(OUTCOMES)}")
            if any(n < 0 for n in row["outcomes"].values()) or not row["worst_error_eps"] >= 0:
                raise SchemaError(f"baseline {path}: cell {i}: counts and worst_error_eps must be >= 0")
            stats[tuple(row.get(f) for f in KEY_FIELDS)] = CellStat(collections.Counter(row["outcomes"]),
                                                                float(row["worst_error_eps"]))
    except SchemaError as exc:
        needed = [f for f in KEY_FIELDS if f not in OPTIONAL_KEY_FIELDS]
        raise BaselineError(f"{exc}; each cell needs {', '.join(needed)}, outcomes, worst_error_eps") from None
    if not stats:
        raise BaselineError(f"baseline {path} has no cells: a gate against it would pass anything")
    return {**{k: v for k, v in data.items() if k != "cells"}, "cells": stats}


def incompatible(base: Mapping[str, Any], run: Mapping[str, Any]) -> list[str]:
    """The settings in which a run differs from its baseline (empty: comparable)."""
    return [f"{k}: baseline {_setting(base, k)!r}, run {_setting(run, k)!r}"
            for k in SETTINGS if _setting(base, k) != _setting(run, k)]


#: what a change is, each a regression, a warning or an improvement (SEVERITY)
NEW_OUTCOME, NOT_CHECKED, PAST_TOLERANCE = "new outcome", "not checked", "error past tolerance"
WITHIN_TOLERANCE = "error grew within tolerance"
OUTCOME_GONE, ERROR_SHRANK = "outcome gone", "error shrank"
SEVERITY = {NEW_OUTCOME: "regression", NOT_CHECKED: "regression", PAST_TOLERANCE: "regression",
            WITHIN_TOLERANCE: "warning", OUTCOME_GONE: "improvement", ERROR_SHRANK: "improvement"}


@dataclass(frozen=True)
class Change:
    key: tuple
    what: str                    # a sentence for the list
    kind: str = NEW_OUTCOME      # a key of SEVERITY
    outcome: str | None = None   # the outcome new or gone

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    def field(self, name: str) -> Any:
        return self.key[KEY_FIELDS.index(name)]

    def cell(self) -> str:
        return " ".join(str(k) for k in self.key if k is not None)

    def line(self) -> str:
        return self.cell() + ": " + self.what


class Comparison(NamedTuple):
    regressions: list[Change]
    warnings: list[Change]
    improvements: list[Change]


def tolerance_k(dtype: str | None) -> float:
    """The dtype's k (errors up to it agree); 0 for a dtype the table does not know,
    so that any growth there is a regression rather than a warning."""
    try:
        return for_dtype(dtype).k
    except (KeyError, TypeError, ValueError):
        return 0.0


def compare(before: Mapping[tuple, CellStat], after: Mapping[tuple, CellStat],
            factor: float = DEFAULT_FACTOR) -> Comparison:
    """The regressions, warnings and improvements of ``after`` against ``before``."""
    worse, warn, better = [], [], []
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            worse.append(Change(key, "not checked in this run (the baseline has it)", NOT_CHECKED))
            continue
        for outcome in sorted(set(new.outcomes) - set(old.outcomes) - {"agree"}):
            worse.append(Change(key, f"new outcome {outcome} ({new.outcomes[outcome]} check(s))", NEW_OUTCOME, outcome))
        for outcome in sorted(set(old.outcomes) - set(new.outcomes) - {"agree"}):
            better.append(Change(key, f"{outcome} is gone ({old.outcomes[outcome]} check(s) before)",
                                 OUTCOME_GONE, outcome))
        was, now = max(old.worst_error_eps, ERROR_FLOOR_EPS), max(new.worst_error_eps, ERROR_FLOOR_EPS)
        grown = f"worst error grew {old.worst_error_eps:.3g} -> {new.worst_error_eps:.3g} eps"
        if now > factor * was:
            k = tolerance_k(key[KEY_FIELDS.index("dtype")])
            if new.worst_error_eps > k:
                worse.append(Change(key, f"{grown}, past k = {k:g}", PAST_TOLERANCE))
            else:
                warn.append(Change(key, f"{grown}, still within k = {k:g}", WITHIN_TOLERANCE))
        elif was > factor * now:
            better.append(Change(key, f"worst error shrank {old.worst_error_eps:.3g} -> {new.worst_error_eps:.3g} eps",
                                 ERROR_SHRANK))
    return Comparison(worse, warn, better)


def diff_rows(a: Mapping[tuple, CellStat], b: Mapping[tuple, CellStat], everything: bool = False) -> list[list[str]]:
    """Side by side: key, outcomes and worst error in A and in B (cells that differ,
    or all with ``everything``)."""
    def text(stat: CellStat | None) -> tuple[str, str]:
        if stat is None:
            return "-", "-"
        return ", ".join(f"{k} {v}" for k, v in sorted(stat.outcomes.items())), f"{stat.worst_error_eps:.3g}"
    rows = []
    for key in sorted(set(a) | set(b), key=str):
        left, right = text(a.get(key)), text(b.get(key))
        changed = (a.get(key) is None or b.get(key) is None
                   or set(a[key].outcomes) != set(b[key].outcomes)
                   or not math.isclose(a[key].worst_error_eps, b[key].worst_error_eps, rel_tol=0.5, abs_tol=0.5))
        if everything or changed:
            rows.append([" ".join(str(k) for k in key if k is not None), *left, *right])
    return rows
