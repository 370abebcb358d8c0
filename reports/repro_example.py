"""One example of a discrepancy group: the record and its case, the oracle's answer as the
framework got the inputs, the draft report, and the ways to write its script (the captured
framework call first, the inlined recipe second)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

import reference
from conformance import frameworks
from conformance.oracle import Oracle, differentiable, evaluate, oracle
from conformance.vocab import catalog
from conformance.vocab.case import Case
from conformance.vocab.dtypes import round_to
from conformance.vocab.findings import by_id
from conformance.vocab.records import Record
from conformance.vocab.reproducer import CaptureError, ScriptWriter, Spec
from conformance.vocab.tolerance import for_dtype

from . import repro_bug, repro_script
from .repro_capture import capture
from .repro_inline import NotInlinable, inline


def checked(ev: reference.Evaluation, check: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if check == "value":
        return ev.value, ev.value, ev.scale
    name = check.split(":", 1)[1]
    return (*ev.grads[name], ev.grad_scales[name])


def _expected(prefix: str, lo: Any, hi: Any, scale: Any, dtype: str) -> dict[str, np.ndarray]:
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return {f"{prefix}_lo": lo, f"{prefix}_hi": hi, f"{prefix}_lo_rounded": round_to(lo, dtype),
            f"{prefix}_hi_rounded": round_to(hi, dtype), f"{prefix}_scale": np.asarray(scale, np.float64)}


def _expect(record: Record, o: Oracle) -> str | None:
    if record.outcome != "error-mismatch":
        return "numbers"
    if o.error is not None:
        return "returns"
    return "raises" if record.refused else None


def _adapter(name: str) -> tuple[Any, str]:
    try:
        adapter = frameworks.get(name)
    except Exception:  # noqa: BLE001 - a user adapter is not in the registry
        return None, f"{name} is not a built-in framework of the suite (scripts are written for those)"
    reason = adapter.unavailable()
    if reason:
        return None, reason
    adapter.devices()              # the adapter's own quiet GPU probe, before anything else starts a backend
    return adapter, ""


@dataclass
class Example:
    """One record of a group, with everything its files are made from."""
    record: Record
    case: Case
    oracle: Oracle
    wrt: tuple[str, ...]
    expect: str | None
    inputs: dict[str, np.ndarray]
    draft: repro_bug.Draft
    adapter: Any = None
    writer: ScriptWriter | None = None      # the framework's reproducer writer (built-in frameworks)


def example(record: Record, case: Case, meta: Mapping[str, Any], name: str, count: int,
            dtypes: list[str]) -> Example:
    dtype = record.dtype
    o = oracle(case, dtype)
    wrt = differentiable(case, o)
    expect = _expect(record, o)
    adapter, why = _adapter(record.framework)
    policy = adapter.policy(case.loss) if adapter is not None else None
    inputs = {k: np.asarray(v) for k, v in o.arrays.items()}
    if o.evaluation is not None and expect in ("numbers", "raises"):
        inputs.update(_expected("oracle", *checked(o.evaluation, record.check), dtype))
        if policy is not None and record.policy_expected is not None:
            pe = evaluate(case, o.arrays, policy.knobs_for(dtype), dtype)[0]
            inputs.update(_expected("policy", *checked(pe, record.check), dtype))
    draft = repro_bug.Draft(
        slug=name, framework=record.framework, loss=case.loss, variant=case.variant, check=record.check,
        outcome=record.outcome, count=count, dtypes=dtypes, record=record, params=dict(case.params),
        reduction=case.reduction, arrays=dict(o.arrays), meta=meta, support=(record.support or ""),
        api=(record.api or ""), expect=expect or "", oracle_refuses=o.error or "", policy=policy,
        finding=by_id(record.finding), docs=catalog.get(case.loss).docs, reason=why,
        oracle=None if o.evaluation is None else checked(o.evaluation, record.check)[0])
    writer = frameworks.writer(record.framework) if adapter is not None else None
    if writer is not None:
        draft.prefixes, draft.doc_hosts = tuple(writer.prefixes), tuple(writer.doc_hosts)
    return Example(record, case, o, wrt, expect, inputs, draft, adapter, writer)


def specs(ex: Example, results: str, script: str) -> Iterator[tuple[str, Spec | None, str]]:
    """(how, spec or None, why not) for each way to write the script, best first."""
    r, case, fw = ex.record, ex.case, ex.record.framework
    tol = for_dtype(r.dtype)
    base = dict(framework=fw, dtype=r.dtype, device=r.device, check=r.check, outcome=r.outcome,
                expect=ex.expect, k=tol.k, eps=tol.eps, tiny=tol.tiny, title=repro_bug.title(ex.draft),
                results=results, script=script, arrays=ex.oracle.arrays, wrt=ex.wrt, params=dict(case.params),
                reduction=case.reduction, refuses=ex.oracle.error or "")
    writer = ex.writer
    if writer.prefixes and r.support == "native":
        try:
            call = capture(writer, ex.adapter.recipes[case.loss], ex.oracle.arrays, case.params, case.reduction,
                           r.dtype, r.device, ex.wrt)
            grad = r.check.split(":", 1)[1] if r.check.startswith("grad:") else None
            if grad is not None and grad not in call.direct:
                raise CaptureError(f"{grad} reaches {call.api} only through a tensor the recipe made")
            yield "call", Spec(**base, call=call), ""
        except CaptureError as exc:
            yield "call", None, f"no single framework call ({exc})"
        except Exception as exc:  # noqa: BLE001 - the framework's own failure while capturing
            yield "call", None, f"capturing the call failed ({type(exc).__name__}: {exc})"
    recipe = ex.adapter.recipes[case.loss]
    try:
        source = inline(writer.inlined(ex.adapter, case.loss), avoid=repro_script.reserved(writer),
                        shims=writer.shims)
    except NotInlinable as exc:
        yield "recipe", None, f"the recipe cannot be inlined ({exc})"
        return
    params, static = writer.split_params(recipe, ex.oracle.arrays, case.params)
    yield "recipe", Spec(**{**base, "params": params}, recipe_source=source, static=static), ""
