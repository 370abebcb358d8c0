"""BUG.md's last section, "How the suite found this": the suite's own account of the
discrepancy, after everything a maintainer needs.

The outcome and the check it came from, the case's variant, reduction and parameters,
how many checks of this kind failed and in which dtypes, the error in eps units against
the suite's tolerance, the known finding, the suite's recipe when the call is not one
framework call, the generated script with how to run it and whether it reproduced, and
the command of the run. The words here are the suite's (results-schema.md, verdicts.md).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .repro_bug import Draft

HEADING = "## How the suite found this"


def _error(d: "Draft") -> list[str]:
    r = d.record
    if d.expect in ("returns", "raises"):
        return []
    error = r.error_eps
    size = error if isinstance(error, str) else ("not measured" if error is None else f"{error:.4g}")
    return [f"- error: **{size} eps** of {r.dtype} (the suite allows {r.k or '?'} eps × the oracle's scale); "
            f"{r.detail or ''}".rstrip("; ")]


def _script(d: "Draft") -> list[str]:
    if not d.script:
        return ["", f"No standalone script: {d.reason}. Re-run the case with `python -m conformance run --frameworks "
                    f"{d.framework} --losses {d.loss} --dtypes {d.record.dtype}`."]
    out = ["", f"The generated script `{d.script}` (with `inputs.npz` beside it) rebuilds the exact inputs, makes the "
               "same call and judges it by the suite's rule:", "",
           "```sh", f"python {d.script}      # needs only NumPy and {d.framework}", "```", "",
           "Exit 0 and `REPRODUCED` while the discrepancy is there, 1 and `NOT REPRODUCED` once it is gone."]
    if d.how == "recipe":
        out += ["", "It runs the suite's own recipe (its source is inlined), not one framework call"
                + (f": {d.reason}" if d.reason else "") + "."]
    if d.status:
        why = f" — {d.reason}" if d.reason and d.status != "reproduced" else ""
        out += ["", f"Checked when generated, in the process that wrote it: **{d.status}**{why}."]
    if d.output:
        out += ["", "```", d.output.rstrip(), "```"]
    return out


def section(d: "Draft", *, summary_shown: bool, reproducer_shown: bool) -> list[str]:
    """The section's lines; the finding's summary and reproducer where the top did not show them."""
    m = d.meta
    out = [HEADING, "",
           f"- outcome **{d.outcome}** of the `{d.check}` check of `{d.loss}` (variant `{d.variant}`, reduction "
           f"`{d.reduction}`, parameters `{dict(d.params)}`) in {d.count} check(s) of this kind (dtypes: "
           f"{', '.join(d.dtypes)}); this is the smallest example",
           f"- expected: the suite's float64 oracle on the inputs as rounded to {d.record.dtype}", *_error(d)]
    if d.policy is not None:
        out.append(f"- {d.framework} documents a departure here ({d.policy.summary}; {d.policy.citation}); "
                   "the result misses that too")
    if d.finding is not None:
        out.append(f"- known finding `{d.finding.id}`" + ("" if summary_shown else f": {d.finding.summary}"))
    if d.how == "recipe" and d.api:
        out.append(f"- what the suite computes: its `{d.loss}` recipe for {d.framework} (source in the script): {d.api}")
    out.append(f"- suite run: `{m.get('command', '?')}` (profile {m.get('profile', '?')}, seed {m.get('seed', '?')}, "
               f"started {m.get('started', '?')})")
    out += _script(d)
    if d.finding is not None and d.finding.reproducer and not reproducer_shown:
        out += ["", f"The suite's hand-written reproducer of `{d.finding.id}`:", "", "```python",
                d.finding.reproducer.strip(), "```"]
    if d.notes:
        out += ["", *d.notes]
    return out
