"""BUG.md: a draft upstream bug report for one discrepancy, in Markdown.

What a maintainer needs and nothing else: the versions, device and dtype the run
used, the exact call, the inputs (inline when small, else shapes and inputs.npz),
what the mathematics gives (and what the framework's own documented policy gives,
when it has one) against what it returned, the error in eps units, the known
finding that explains it if there is one, and the command that reproduces it.
A composed recipe is the suite's own composition: the draft says so first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from conformance.vocab.dtypes import numpy_dtype
from conformance.vocab.records import Record

INLINE_ELEMENTS = 64          # inputs up to this many elements in all are written out


@dataclass
class Draft:
    """What BUG.md is written from (plain data: reproducers.py fills it in)."""
    slug: str
    framework: str
    loss: str
    variant: str
    check: str
    outcome: str
    count: int
    dtypes: list[str]
    record: Record
    params: Mapping[str, Any]
    reduction: str
    arrays: Mapping[str, np.ndarray]             # as the framework got them (float64 / int64)
    meta: Mapping[str, Any]
    call: str = ""                               # the call as code ("" when no script)
    callee: str = ""                             # the framework function or class it calls
    support: str = "native"
    api: str = ""
    expect: str = "numbers"
    oracle_refuses: str = ""
    oracle: Any = None                           # the oracle's value or gradient, when it has one
    policy: Any = None                           # adapters.base.Policy when the framework documents one
    finding: Any = None                          # conformance.findings.Finding
    docs: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()               # how api strings spell the framework's modules
    doc_hosts: tuple[str, ...] = ()              # hosts of the framework's documentation
    script: str = ""                             # file name, "" when none
    status: str = ""                             # reproduced | not reproduced | not verified | no script
    how: str = ""                                # call | recipe
    reason: str = ""
    output: str = ""                             # what the script printed when it was checked
    notes: list[str] = field(default_factory=list)

    @property
    def grad_of(self) -> str | None:
        return self.check.split(":", 1)[1] if self.check.startswith("grad:") else None


def _number(v: Any) -> str:
    """The shortest text that rounds back to ``v`` in its own dtype (exact float64 text for
    bfloat16, which NumPy cannot format)."""
    if not isinstance(v, np.floating) or not np.isfinite(v):
        return str(float(v)) if isinstance(v, np.generic) and v.dtype.kind == "V" else str(v)
    if v != 0 and not 1e-4 <= abs(float(v)) < 1e16:
        return np.format_float_scientific(v, unique=True, trim="-")
    return np.format_float_positional(v, unique=True, trim="-")


def _values(a: np.ndarray, dtype: str) -> str:
    """The values as the framework holds them, in the dtype's shortest exact form."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return np.array2string(a, separator=", ", max_line_width=100, threshold=10_000)
    held = a.astype(numpy_dtype(dtype)) if dtype != "bfloat16" else a
    return np.array2string(held, separator=", ", max_line_width=100, threshold=10_000,
                           formatter={"float_kind": _number})


def _enc(enc: Mapping[str, Any] | None) -> str:
    """A record's truncated array summary as text."""
    if not enc:
        return "—"
    data = [float(x) if isinstance(x, str) else x for x in enc["data"]]
    size = int(np.prod(enc["shape"])) if enc["shape"] else 1
    text = np.array2string(np.array(data, dtype=np.float64), precision=9, separator=", ", max_line_width=100)
    return text + (f" … ({size} elements)" if size > len(data) else "") + f", shape {tuple(enc['shape'])}"


def subject(d: Draft) -> str:
    """What the report is about: the framework call, else the framework API the recipe uses."""
    if d.how != "recipe" and d.callee:
        return d.callee
    if d.framework == "numpy":
        return f"the NumPy baseline's {d.loss}"
    named = re.search(r"\b(?:%s)(?:\.\w+)+" % "|".join(d.prefixes), d.api) if d.prefixes else None
    if d.support == "native" and named:
        return f"{named.group(0)} (in the suite's {d.loss} recipe)"
    return f"{d.framework} {d.loss} (composed by the suite)"


def short(a: Any, limit: int = 24) -> str:
    a = np.asarray(a, dtype=np.float64)
    text = np.array2string(a.ravel()[:limit], precision=9, separator=", ", max_line_width=100)
    return text + (f" … ({a.size} elements)" if a.size > limit else "") + f", shape {a.shape}"


def title(d: Draft) -> str:
    what = subject(d)
    quantity = "value" if d.grad_of is None else f"gradient w.r.t. {d.grad_of}"
    dtype = d.record.dtype
    found = re.search(r"expected (\S+), got (\S+?):?(?:\s|$)", d.record.detail)
    if d.expect == "returns":
        why = d.oracle_refuses if len(d.oracle_refuses) <= 100 else d.oracle_refuses[:99] + "…"
        return f"{what} returns a value for input outside its domain ({why})"
    if d.expect == "raises":
        raised = (d.record.raised or "").split(":", 1)[0]
        return f"{what} raises {raised} on valid {dtype} input ({'forward' if d.grad_of is None else 'backward'})"
    if d.outcome == "nonfinite-mismatch" and found:
        expected, got = found.groups()
        if expected == got:         # a finite exact value beyond the dtype's range: the result must be inf
            return f"{what}: {quantity} is {got}, beyond the range of {dtype}, where a {dtype} result is inf"
        return f"{what}: {quantity} is {got} where the exact result is {expected} ({dtype})"
    error = d.record.error_eps
    size = f"{error:.3g} eps" if isinstance(error, (int, float)) else "beyond the tolerance"
    return f"{what}: {quantity} off by {size} in {dtype}"


def _versions(d: Draft) -> list[str]:
    m = d.meta
    env = m.get("environment", {}).get(d.framework, {})
    machine = m.get("machine", {})
    lines = [f"- **{d.framework}**: {m.get('frameworks', {}).get(d.framework, '?')}",
             f"- **device**: {d.record.device}" + (f" ({', '.join(env.get('gpus', []))})" if env.get("gpus") else ""),
             f"- **dtype**: {d.record.dtype}",
             f"- **NumPy**: {m.get('frameworks', {}).get('numpy', np.__version__)}; "
             f"**Python**: {machine.get('python', '?')}; **platform**: {machine.get('platform', '?')}"]
    extra = {k: v for k, v in env.items() if k not in ("devices", "gpus")}
    if extra:
        lines.append("- **settings**: " + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())))
    lines.append(f"- **suite run**: `{m.get('command', '?')}` (profile {m.get('profile', '?')}, seed {m.get('seed', '?')}, "
                 f"started {m.get('started', '?')})")
    return lines


def _inputs(d: Draft) -> list[str]:
    dtype = d.record.dtype
    total = sum(int(np.asarray(a).size) for a in d.arrays.values())
    lines = []
    for name, a in d.arrays.items():
        kind = dtype if a.dtype.kind == "f" else "int64"
        head = f"- `{name}`: {kind}, shape {tuple(a.shape)}"
        lines.append(head)
        if total <= INLINE_ELEMENTS:
            block = ["```", *_values(a, dtype).splitlines(), "```"]
            lines += ["", *("  " + line for line in block), ""]
    if total > INLINE_ELEMENTS:
        lines.append(f"\n{total} elements in all: the exact arrays are in `inputs.npz` (float64 holding the "
                     f"{dtype} values; `np.load('inputs.npz')[name]`).")
    lines.append(f"- parameters: `{dict(d.params)}`, reduction `{d.reduction!r}`")
    return lines


def _comparison(d: Draft) -> list[str]:
    r = d.record
    if d.expect == "returns":
        return [f"- **expected**: an error — the input lies outside the loss's domain: {d.oracle_refuses}",
                f"- **actual**: {d.framework} returns `{_enc(r.actual)}`"]
    if d.expect == "raises":
        exact = "" if d.oracle is None else f": `{short(d.oracle)}`"
        return [f"- **expected**: a value (the float64 oracle on the same inputs{exact})",
                f"- **actual**: {d.framework} raises in the {(r.refused or 'forward')} pass: `{(r.raised or '')}`"]
    lines = [f"| | {'value' if d.grad_of is None else 'gradient of sum(loss) w.r.t. ' + d.grad_of} |", "|---|---|",
             f"| exact (float64 oracle on the same {r.dtype} inputs) | `{_enc(r.expected)}` |"]
    if r.policy_expected:
        lines.append(f"| what its documented policy gives | `{_enc(r.policy_expected)}` |")
    lines.append(f"| {d.framework} | `{_enc(r.actual)}` |")
    error = r.error_eps
    lines += ["", f"Error: **{error if isinstance(error, str) else f'{error:.4g}'} eps** of {r.dtype} "
                  f"(the suite allows {(r.k or '?')} eps × the oracle's scale); {(r.detail or '')}"]
    if d.policy is not None:
        lines += ["", f"{d.framework} documents a departure here ({d.policy.summary}; {d.policy.citation}); "
                      "the result misses that too."]
    return lines


def render(d: Draft) -> str:
    r = d.record
    out = [f"# {title(d)}", "",
           f"<!-- Draft generated by loss-conformance (reproducer {d.slug}); check it before filing. -->", ""]
    if d.framework == "numpy":
        out += ["> **Not for upstream.** The numpy adapter is the suite's own baseline: the oracle's formulas "
                f"run in {r.dtype}. This shows what a plain implementation does in that dtype.", ""]
    elif d.support != "native":
        out += [f"> **Check before filing.** {d.framework} has no single call for this case: the suite composes it "
                f"from {d.framework} primitives ({d.api}). The discrepancy may be in that composition, not in "
                f"{d.framework}; reduce it to the primitive that misbehaves before reporting it.", ""]
    out += ["## Environment", "", *_versions(d), "", "## Description", ""]
    if d.finding is not None:
        out += [f"Known finding `{d.finding.id}`: {d.finding.summary}", ""]
    out += [f"The suite checked `{d.loss}` (variant `{d.variant}`, reduction `{d.reduction}`), {d.check}: "
            f"**{d.outcome}** in {d.count} check(s) of this kind (dtypes: {', '.join(d.dtypes)}). This is the "
            f"smallest example.", ""]
    if d.call and d.how != "recipe":
        out += ["## The call", "", "```python", d.call, "```", ""]
    elif d.api:
        out += ["## What the suite computes", "", f"The suite's `{d.loss}` recipe for {d.framework} (its source is "
                f"in the script): {d.api}", ""]
    if d.grad_of:
        out += [f"The gradient checked is that of `sum(loss)` with respect to `{d.grad_of}`.", ""]
    out += ["## Inputs", "", *_inputs(d), "", "## Expected vs actual", "", *_comparison(d), ""]
    docs = [u for u in d.docs if any(h in u for h in d.doc_hosts)]
    if docs:
        out += ["Documentation: " + ", ".join(docs), ""]
    out += ["## Reproduce", ""]
    if d.script:
        out += ["```sh", f"python {d.script}      # needs only NumPy and {d.framework}; reads inputs.npz beside it", "```",
                "", f"Exit 0 and `REPRODUCED` while the discrepancy is there, 1 and `NOT REPRODUCED` once it is gone."]
        if d.how == "recipe":
            out += ["", "The script runs the suite's own recipe (its source is inlined), not one framework call"
                    + (f": {d.reason}" if d.reason else "") + "."]
        if d.status:
            why = f" — {d.reason}" if d.reason and d.status != "reproduced" else ""
            out += ["", f"Checked when generated, in the process that wrote it: **{d.status}**{why}."]
        if d.output:
            out += ["", "```", d.output.rstrip(), "```"]
    else:
        out += [f"No standalone script: {d.reason}. Re-run the case with "
                f"`python -m conformance run --frameworks {d.framework} --losses {d.loss} --dtypes {r.dtype}`."]
    if d.finding is not None and d.finding.reproducer:
        out += ["", f"The suite's hand-written reproducer of `{d.finding.id}`:", "", "```python",
                d.finding.reproducer.strip(), "```"]
    if d.notes:
        out += ["", *d.notes]
    return "\n".join(out).rstrip() + "\n"
