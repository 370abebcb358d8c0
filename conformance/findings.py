"""Known findings (data/findings.toml): discrepancies the suite has found and
recorded, each with a reproducer. The pytest matrix marks a cell whose only
failures are explained here as xfail (with the finding's id); anything else
fails. A finding is never a reason to loosen a tolerance.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

FINDINGS_FILE = Path(__file__).with_name("data") / "findings.toml"


@dataclass(frozen=True)
class Finding:
    id: str
    framework: str
    loss: str
    outcome: str
    summary: str
    reproducer: str
    checks: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    detail_contains: str = ""

    def explains(self, record: Mapping[str, Any]) -> bool:
        return (record["framework"] == self.framework and record["loss"] == self.loss
                and record["outcome"] == self.outcome
                and (not self.checks or record["check"] in self.checks)
                and (not self.variants or record["variant"] in self.variants)
                and (not self.dtypes or record["dtype"] in self.dtypes)
                and self.detail_contains in record.get("detail", ""))


@lru_cache(maxsize=1)
def findings() -> tuple[Finding, ...]:
    with open(FINDINGS_FILE, "rb") as f:
        raw = tomllib.load(f).get("finding", [])
    out = []
    for row in raw:
        row = dict(row)
        for key in ("checks", "variants", "dtypes"):
            row[key] = tuple(row.get(key, ()))
        out.append(Finding(**row))
    return tuple(out)


def explain(record: Mapping[str, Any]) -> Finding | None:
    return next((f for f in findings() if f.explains(record)), None)
