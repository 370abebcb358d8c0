"""BUG.md: a draft upstream bug report for one discrepancy, in Markdown, in the order
a maintainer reads it.

The title; one paragraph in the framework's own terms (what the call gives, what it
should give, why when a known finding says so); a minimal reproducer, 3-8 lines with
the inputs inline (the finding's hand-written one, else one written from the call and
the case's arrays: repro_snippet; inputs too big to inline stay in inputs.npz, with the
script); expected against actual at the digits that tell them apart, with the absolute
and relative error (repro_digits); the versions; the upstream report where one is
known; and last, in the suite's own words, how the suite found it (repro_found). Notes
for whoever files it (a composition of the suite's, the NumPy baseline) go in the
opening comment, which is to be deleted before filing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from conformance.vocab.dtypes import numpy_dtype
from conformance.vocab.records import Record

from . import repro_digits as rd
from . import repro_found, repro_snippet

INLINE_ELEMENTS = 64          # inputs up to this many elements in all are written out
MAX_LINES = repro_snippet.MAX_LINES
#: words of the suite's own that the part above "How the suite found this" does without
JARGON = re.compile(r"\b(oracles?|eps|cells?|checks?|checked|variants?|findings?|suite's|the suite|Hypothesis)\b",
                    re.IGNORECASE)


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
    used: tuple[str, ...] = ()                   # the arrays the captured call reads
    extras: Mapping[str, tuple[np.ndarray, str]] = field(default_factory=dict)   # made by the recipe: (values, dtype)
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


def subject(d: Draft) -> str:
    """What the report is about: the framework call, else the framework API the recipe uses."""
    if d.how != "recipe" and d.callee:
        return d.callee
    if d.framework == "numpy":
        return f"a plain NumPy {d.loss}"
    named = re.search(r"\b(?:%s)(?:\.\w+)+" % "|".join(d.prefixes), d.api) if d.prefixes else None
    if d.support == "native" and named:
        return named.group(0)
    return f"a {d.loss} composed of {d.framework} operations"


def short(a: Any, limit: int = 24) -> str:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return repr(float(a))
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
    pair = worst(d)
    relative = rd.errors(*pair[:2])[1] if pair else None
    absolute = rd.errors(*pair[:2])[0] if pair else None
    size = (f"has a relative error of {relative:.2g}" if relative is not None
            else f"is off by {absolute:.3g}" if absolute is not None else "is inaccurate")
    return f"{what}: {quantity} {size} in {dtype}"


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
    return lines


def _inputs(d: Draft) -> list[str]:
    dtype = d.record.dtype
    total = sum(int(np.asarray(a).size) for a in d.arrays.values())
    lines = []
    for name, a in d.arrays.items():
        kind = dtype if a.dtype.kind == "f" else "int64"
        lines.append(f"- `{name}`: {kind}, shape {tuple(a.shape)}")
        if total <= INLINE_ELEMENTS:
            block = ["```", *_values(a, dtype).splitlines(), "```"]
            lines += ["", *("  " + line for line in block), ""]
    if total > INLINE_ELEMENTS:
        lines.append(f"\n{total} elements in all: the exact arrays are in `inputs.npz` (float64 holding the "
                     f"{dtype} values; `np.load('inputs.npz')[name]`).")
    lines.append((f"- parameters: `{dict(d.params)}`, " if d.params else "- ") + f"reduction `{d.reduction!r}`")
    return lines


def _reference(d: Draft) -> tuple[Any, bool]:
    """What the result is judged against, and whether that is the documented behaviour's
    answer (when the result misses that too) rather than the exact one."""
    r = d.record
    if r.policy_expected and d.policy is not None and "policy" in (r.detail or ""):
        return r.policy_expected, True
    return r.expected, False


def _exact(d: Draft) -> str:
    return f"computed in float64 from the same {d.record.dtype} inputs"


def worst(d: Draft) -> tuple[float, float, tuple[int, ...]] | None:
    """(expected, actual, index) at the worst element, when the record holds both."""
    r = d.record
    reference, _ = _reference(d)
    at = tuple(r.at) if r.at is not None else ((0,) * len(r.actual["shape"]) if r.actual else None)
    expected, actual = rd.at_worst(reference, at), rd.at_worst(r.actual, at)
    return None if expected is None or actual is None else (expected, actual, at)


def _quantity(d: Draft) -> str:
    return "the value" if d.grad_of is None else f"the gradient of `sum(loss)` with respect to `{d.grad_of}`"


def plain_summary(d: Draft) -> str:
    """The finding's summary when it reads in the framework's terms, else ""."""
    text = d.finding.summary if d.finding is not None else ""
    return "" if JARGON.search(text) else text


def _named(d: Draft) -> str:
    """The subject, as code when it is a name."""
    what = subject(d)
    return f"`{what}`" if " " not in what else what[0].upper() + what[1:]


def description(d: Draft) -> str:
    r, what = d.record, _named(d)
    where = f"{r.dtype} inputs on the {r.device}"
    if d.expect == "returns":
        text = (f"{what} returns a value (`{rd.shown(r.actual, 8)}`) for {where} that lie outside the loss's domain "
                f"({d.oracle_refuses}), where an error is expected.")
    elif d.expect == "raises":
        exact = "" if d.oracle is None else f" (the exact result is `{short(d.oracle)}`)"
        text = (f"{what} raises `{r.raised or ''}` in the {r.refused or 'forward'} pass on valid {where}, "
                f"where a value is expected{exact}.")
    else:
        pair, documented = worst(d), _reference(d)[1]
        if pair is None:
            text = f"{what} computes {_quantity(d)} of {where} wrongly (the numbers are below)."
        else:
            expected, actual = rd.distinct(*pair[:2])
            element = f" at element {pair[2]}" if pair[2] else ""
            relative = rd.errors(*pair[:2])[1]
            should = (f"its documented behaviour ({d.policy.summary}) gives {expected}" if documented
                      else f"the exact result ({_exact(d)}) is {expected}")
            text = (f"For {where}, {what} gives {actual} for {_quantity(d)}{element}, where {should}"
                    + (f": a relative error of {relative:.2g}." if relative is not None else "."))
    summary = plain_summary(d)
    return text + (f" {summary}" if summary else "")


def _hand_written(d: Draft) -> str:
    return d.finding.reproducer.strip() if d.finding is not None and d.finding.reproducer else ""


def _lines(code: str) -> int:
    return len([line for line in code.splitlines() if line.strip()])


def generated(d: Draft) -> str | None:
    """The snippet written from the captured call and the case's arrays, when it fits."""
    if d.how != "call" or any(dt != d.record.dtype and np.asarray(v).dtype.kind == "f"
                              for v, dt in d.extras.values()):
        return None
    arrays = {**d.arrays, **{k: np.asarray(v) for k, (v, _) in d.extras.items()}}
    return repro_snippet.snippet(d.framework, d.call, arrays, d.record.dtype, d.grad_of, d.used or tuple(d.arrays))


def reproducer(d: Draft) -> tuple[list[str], str]:
    """The reproducer's lines and which it is: hand | generated | long | none."""
    hand, snippet = _hand_written(d), generated(d)
    if hand and _lines(hand) <= MAX_LINES:
        return ["```python", hand, "```", "", "The assertions hold while the behaviour described above is there."], "hand"
    if snippet:
        says = {"raises": "It raises the error quoted below.",
                "returns": f"It prints the value {d.framework} returns, where an error is expected."}
        return ["```python", snippet, "```", "", says.get(d.expect, f"It prints what {d.framework} returns; the "
                "expected numbers are below.")], "generated"
    if hand:
        return ["```python", hand, "```", "", "The assertions hold while the behaviour described above is there."], "long"
    total = sum(int(np.asarray(a).size) for a in d.arrays.values())
    why = (f"The inputs ({total} elements) are too large to write out here" if total > repro_snippet.MAX_ELEMENTS
           else f"This is more than one {d.framework} call" if d.how == "recipe"
           else "No short snippet could be written for this call")
    where = (f"`{d.script}` (attached, with the exact inputs in `inputs.npz`) makes the call and prints expected and "
             "actual" if d.script else "the exact inputs are in `inputs.npz` (attached)")
    return [f"{why}: {where}."], "none"


def comparison(d: Draft) -> list[str]:
    r = d.record
    if d.expect == "returns":
        return [f"- **expected**: an error — the input lies outside the loss's domain: {d.oracle_refuses}",
                f"- **actual**: {d.framework} returns `{rd.shown(r.actual, 8)}`"]
    if d.expect == "raises":
        exact = "" if d.oracle is None else f"`{short(d.oracle)}` (exact, computed in float64 from the same inputs)"
        return [f"- **expected**: a value {exact}".rstrip(),
                f"- **actual**: {d.framework} raises in the {(r.refused or 'forward')} pass: `{(r.raised or '')}`"]
    reference, documented = _reference(d)
    pair = worst(d)
    n = rd.digits(*pair[:2]) if pair else 9
    scalar = not (reference or {}).get("shape")
    version = d.meta.get("frameworks", {}).get(d.framework, "")
    version = version if version.startswith(d.framework) else f"{d.framework} {version}".rstrip()
    lines = [f"{_quantity(d)[0].upper()}{_quantity(d)[1:]}:", ""]
    if documented:
        lines.append(f"- **expected** (its documented behaviour: {d.policy.summary}): `{rd.shown(reference, n)}`")
    lines.append(f"- **{'exact' if documented else 'expected'}** ({_exact(d)}): `{rd.shown(r.expected, n)}`")
    lines.append(f"- **actual** ({version}): `{rd.shown(r.actual, n)}`")
    if pair is not None:
        absolute, relative = rd.errors(*pair[:2])
        worst_at = "" if scalar else f"at the worst element {pair[2]} "
        if absolute is None:
            lines.append(f"- {worst_at}expected `{rd.distinct(*pair[:2])[0]}`, actual `{rd.distinct(*pair[:2])[1]}`")
        else:
            eps = float(np.finfo(numpy_dtype(r.dtype)).eps) if r.dtype != "bfloat16" else 2.0 ** -7
            rel = "undefined (the expected value is 0)" if relative is None else (
                f"**{relative:.3g}** ({relative / eps:.3g} × the {r.dtype} machine epsilon {eps:.3g})")
            lines.append(f"- {worst_at}absolute error **{absolute:.3g}**, relative error {rel}")
    return lines


def _filer_note(d: Draft) -> str:
    """What whoever files the draft must know first; it goes in the opening comment."""
    if d.framework == "numpy":
        return (f" Not for upstream. The numpy adapter is the suite's own baseline: the oracle's formulas run in "
                f"{d.record.dtype}. This shows what a plain implementation does in that dtype.")
    if d.support not in ("native", ""):
        return (f" Check before filing. {d.framework} has no single call for this case: the suite composes it from "
                f"{d.framework} primitives ({d.api}). The discrepancy may be in that composition, not in "
                f"{d.framework}; reduce it to the primitive that misbehaves before reporting it.")
    return ""


def render(d: Draft) -> str:
    note = _filer_note(d).replace("--", "- -")
    out = [f"# {title(d)}", "",
           f"<!-- Draft generated by loss-conformance (reproducer {d.slug}): check it, and delete this comment, "
           f"before filing.{note} -->", "", description(d), "", "## Reproducer", ""]
    block, which = reproducer(d)
    out += [*block, "", "## Expected vs actual", ""]
    if which != "generated":            # the numbers below are for the case's own inputs: show them
        call = ["", "```python", d.call, "```", ""] if d.call and d.how != "recipe" else [""]
        out += ["On these inputs" + (", the call" if len(call) > 1 else "") + ":", *call, *_inputs(d), ""]
    out += [*comparison(d), ""]
    docs = [u for u in d.docs if any(h in u for h in d.doc_hosts)]
    if docs:
        out += ["Documentation: " + ", ".join(docs), ""]
    out += ["## Environment", "", *_versions(d), ""]
    if d.finding is not None and d.finding.upstream:
        out += ["**Upstream**: " + ", ".join(d.finding.upstream), ""]
    out += repro_found.section(d, summary_shown=bool(plain_summary(d)), reproducer_shown=which in ("hand", "long"))
    return "\n".join(out).rstrip() + "\n"
