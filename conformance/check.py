"""One case on one framework, device and dtype: the adapter's answer against the
oracle's, as records (one per check: the value, each gradient, and on a GPU the
same checks against the framework's own CPU result).

The steps, in order: does the adapter cover the case; does the oracle refuse the
input (then the framework must refuse it too); does the framework refuse valid
input; how far is each result from the oracle (and, when it misses, from the
framework's documented policy); on a device other than the CPU, how far from the
framework's CPU result; in a mode other than the framework's default (compiled,
eager, graph: vocab/modes.py), how far from its default mode's result. A failing
record a known finding explains names it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

import reference
from adapters.base import AdapterContractError, FrameworkAdapter, ModeUnsupported, Output, hvp_direction

from . import hessian
from .compare import Verdict, judge, ulps
from .oracle import Oracle, differentiable, evaluate, oracle
from .vocab import findings
from .vocab.case import Case, encode_array
from .vocab.records import Record
from .vocab.tolerance import Tolerance, for_dtype

SUMMARY_ELEMENTS = 24


def check(case: Case, adapter: FrameworkAdapter, device: str, dtype: str, mode: str | None = None) -> list[Record]:
    """Every record for one case on one framework, device, dtype and mode (None:
    the framework's default); a failing record that a known finding explains
    carries the finding's id."""
    mode = None if mode == getattr(adapter, "default_mode", None) else mode
    records = _Checking(case, adapter, device, dtype, mode).records()
    return [dataclasses.replace(r, finding=_finding(r, case)) if r.failing else r for r in records]


def _finding(record: Record, case: Case) -> str | None:
    known = findings.explain(record, case)
    return known.id if known else None


def base(case: Case, framework: str, device: str, dtype: str, mode: str | None = None) -> dict[str, Any]:
    """The fields every record of a (case, framework, device, dtype, mode) starts with."""
    return {"case": case.id, "loss": case.loss, "variant": case.variant, "reduction": case.reduction,
            "origin": case.origin, "framework": framework, "device": device, "dtype": dtype, "mode": mode}


def summary(a: Any) -> dict[str, Any]:
    """A JSON-safe, truncated view of an array for records."""
    enc = encode_array(np.asarray(a, dtype=np.float64))
    enc["data"] = enc["data"][:SUMMARY_ELEMENTS]
    return enc


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"


def run(adapter: FrameworkAdapter, case: Case, arrays, dtype: str, device: str,
        wrt: tuple[str, ...], mode: str | None = None) -> tuple[Output | None, str | None, str | None]:
    """(output, forward failure, backward failure). When forward + backward fails,
    the forward alone is retried, so a refused backward is told from a refused forward."""
    extra = {} if mode is None else {"mode": mode}      # a user's adapter of an earlier version takes no mode
    try:
        with np.errstate(all="ignore"):
            return adapter.run(case, arrays, dtype, device, wrt, **extra), None, None
    except (AdapterContractError, ModeUnsupported):
        raise                       # the adapter's fault, or no such mode here: not the framework's refusal
    except Exception as exc:  # noqa: BLE001 - the framework's refusal is data
        failure = _error_text(exc)
    if wrt:
        try:
            with np.errstate(all="ignore"):
                return adapter.run(case, arrays, dtype, device, (), **extra), None, failure
        except (AdapterContractError, ModeUnsupported):
            raise
        except Exception:  # noqa: BLE001
            pass
    return None, failure, None


class _Checking:
    """The context of one check: what every record of it shares."""

    def __init__(self, case: Case, adapter: FrameworkAdapter, device: str, dtype: str, mode: str | None) -> None:
        self.case, self.adapter, self.device, self.dtype, self.mode = case, adapter, device, dtype, mode
        self.tol: Tolerance = for_dtype(dtype)
        # a surface mode says what it calls (a user's adapter of an earlier version: support(case))
        self.support = adapter.support(case, mode) if mode and isinstance(adapter, FrameworkAdapter) \
            else adapter.support(case)
        self.claimed = dtype in adapter.claimed_dtypes(case.loss)
        self.base = {**base(case, adapter.name, device, dtype, mode), "support": self.support.kind,
                     "api": self.support.api, "k": self.tol.k, "claimed": self.claimed}
        self._policy_evaluation: list[reference.Evaluation | None] = []

    def record(self, check: str, outcome: str, error_eps: float | None = None, detail: str = "",
               **extra: Any) -> Record:
        eps_units = None if error_eps is None else (error_eps if np.isfinite(error_eps) else "inf")
        if extra.get("at") is not None:
            extra["at"] = tuple(extra["at"])
        return Record(**self.base, check=check, outcome=outcome, error_eps=eps_units, detail=detail, **extra)

    def records(self) -> list[Record]:
        if self.support.kind == "unsupported":
            return [self.record("value", "unsupported", detail=self.support.reason)]
        if self.device not in self.adapter.devices():
            return [self.record("value", "unsupported",
                                detail=f"device {self.device!r} is not available to {self.adapter.name}")]
        lacking = self.mode and _mode_unsupported(self.adapter, self.mode, self.case.loss)
        if lacking:
            return [self.record("value", "unsupported", detail=lacking)]
        o = oracle(self.case, self.dtype)
        wrt = differentiable(self.case, o)
        try:
            out, failure, backward_failure = run(self.adapter, self.case, o.arrays, self.dtype, self.device, wrt,
                                                 self.mode)
        except ModeUnsupported as exc:
            return [self.record("value", "unsupported", detail=f"{self.mode}: {exc}")]
        return self.judged_run(o, wrt, out, failure, backward_failure) + \
            self.against_default_mode(o, wrt, out, failure, backward_failure)

    def judged_run(self, o: Oracle, wrt: tuple[str, ...], out: Output | None, failure: str | None,
                   backward_failure: str | None) -> list[Record]:
        """What the run's result (or refusal) says against the oracle, and on a device
        other than the CPU against the CPU's."""
        if o.error is not None:
            return [self.invalid_input(o, out, failure)]
        if failure is not None and o.evaluation.undefined:
            return [self.record("value", "undefined", raised=failure, refused="forward",
                                detail=f"undefined by the mathematics ({o.evaluation.undefined}); "
                                       f"{self.adapter.name} refuses it")]
        if failure is not None:
            return [self.refused("value", "forward", failure)]
        found = self.against_oracle(o, out, wrt if backward_failure is None else ())
        found += [self.refused(f"grad:{n}", "backward", backward_failure) for n in wrt if backward_failure]
        found += self.hessian_vector_products(o, out)
        found += self.documented_dtype(out)
        if self.device != "cpu" and "cpu" in self.adapter.devices():
            found += self.against_cpu(o, wrt, out, backward_failure)
        return found

    # -- the steps ----------------------------------------------------------------------
    def invalid_input(self, o: Oracle, out: Output | None, failure: str | None) -> Record:
        """The oracle refuses the input: the framework must refuse it too, unless it
        documents that it does not check values at run time."""
        if failure is not None:
            return self.record("value", "agree", detail=f"both refuse. oracle: {o.error}", raised=failure)
        got = summary(out.value)
        unchecked = self.adapter.unchecked_values
        if unchecked is not None and o.value_dependent:
            return self.record("value", "documented", detail=f"the oracle refuses ({o.error}); {unchecked.summary}",
                               actual=got, citation=unchecked.citation)
        return self.record("value", "error-mismatch", actual=got,
                           detail=f"the oracle refuses ({o.error}) but {self.adapter.name} returned a value")

    def refused(self, check: str, stage: str, text: str) -> Record:
        """A refusal of valid input: unsupported (with the framework's own words) in a
        dtype the adapter does not claim, error-mismatch in one it does."""
        if not self.claimed:
            return self.record(check, "unsupported", raised=text, refused=stage,
                               detail=f"{self.adapter.name} does not claim {self.dtype} for {self.case.loss}; "
                                      f"its {stage} says: {text}")
        return self.record(check, "error-mismatch", raised=text, refused=stage,
                           detail=f"{self.adapter.name} refused valid input ({stage})")

    def against_oracle(self, o: Oracle, out: Output, wrt: tuple[str, ...]) -> list[Record]:
        """One record per checked quantity: agree, documented (within the framework's
        documented policy) or the discrepancy that remains."""
        ev = o.evaluation
        if ev.undefined_at is not None and not ev.undefined_at.all():
            value = [self.partly_undefined(o, out.value)]
            return value + [self.judged(o, f"grad:{n}", *ev.grads[n], ev.grad_scales[n], out.grads.get(n))
                            for n in wrt]
        if ev.undefined:        # no answer is right or wrong: what the framework returns is shown
            value = [self.record("value", "undefined", detail=f"undefined by the mathematics ({ev.undefined}); "
                                 f"{self.adapter.name} returns {_shown(out.value)}", actual=summary(out.value))]
            return value + [_of_an_undefined_value(self.judged(o, f"grad:{n}", *ev.grads[n], ev.grad_scales[n],
                                                               out.grads.get(n)), ev.undefined) for n in wrt]
        checks = [("value", (ev.value, ev.value), ev.scale, out.value)]
        checks += [(f"grad:{n}", ev.grads[n], ev.grad_scales[n], out.grads.get(n)) for n in wrt]
        return [self.judged(o, name, lo, hi, scale, actual) for name, (lo, hi), scale, actual in checks]

    def hessian_vector_products(self, o: Oracle, out: Output) -> list[Record]:
        """The framework's H v (the forward mode) against the oracle's gradient differentiated
        in float64 (conformance/hessian.py): judged within the differences' error bound plus
        k eps of the product's size, normwise: |Hv_i| + max |Hv| + the gradient's scale
        over the input's (max |g| / max(|x|, 1): the curvature a product that cancels to
        0 was computed from); no record where the oracle cannot determine the product
        (a kink, a non-finite input) or the mathematics leaves the loss undefined."""
        ev = o.evaluation
        if ev.undefined or (ev.undefined_at is not None and ev.undefined_at.any()):
            return []           # no second derivative of what the mathematics leaves undefined
        found = []
        for name, actual in sorted(getattr(out, "hvp", {}).items()):
            arrays = o.arrays
            v = hvp_direction(np.shape(arrays[name]), name)
            product = hessian.hvp(self.case, arrays, name, v)
            if product.value is None:
                continue
            x = np.abs(np.asarray(arrays[name], np.float64))
            curvature = float(np.max(ev.grad_scales[name])) / max(float(np.max(x)), 1.0) if name in ev.grad_scales \
                else 0.0
            size = np.abs(product.value) + float(np.max(np.abs(product.value))) + curvature
            verdict = judge(product.value - product.error, product.value + product.error, size, actual, self.tol)
            found.append(self.record(f"hvp:{name}", verdict.outcome, verdict.error_eps,
                                     verdict.detail or "H v by finite differences of the oracle's gradient",
                                     at=verdict.at, expected=summary(product.value), actual=summary(actual)))
        return found

    def documented_dtype(self, out: Output) -> list[Record]:
        """In a mode that documents the value's dtype (autocast's op lists): is it that dtype."""
        if self.mode is None or getattr(out, "dtype", None) is None:
            return []
        ask = getattr(self.adapter, "documented_dtype", None)
        want = ask(self.mode, self.case.loss, self.dtype) if ask else None
        if want is None:
            return []
        if out.dtype == want:
            return [self.record("mode:dtype", "agree", detail=f"{self.mode} returns {want}, as documented")]
        return [self.record("mode:dtype", "mode-mismatch",
                            detail=f"{self.mode} documents a {want} result on {self.dtype} inputs; "
                                   f"{self.adapter.name} returned {out.dtype}")]

    def partly_undefined(self, o: Oracle, actual: Any) -> Record:
        """Terms 'none' leaves apart, some undefined (0/0): those are not judged (the
        framework's values there are shown); the others are, as usual."""
        ev = o.evaluation
        got = np.asarray(actual, np.float64) if actual is not None else None
        if got is None or got.shape != np.shape(ev.value):
            return self.judged(o, "value", ev.value, ev.value, ev.scale, actual)
        expected = np.where(ev.undefined_at, got, ev.value)
        record = self.judged(o, "value", expected, expected, ev.scale, actual)
        if record.outcome != "agree":
            return record
        shown = ", ".join(f"{v:.6g}" for v in got[ev.undefined_at][:4])
        first = tuple(int(i) for i in np.argwhere(ev.undefined_at)[0])
        return dataclasses.replace(record, outcome="undefined", expected=summary(ev.value), at=first,
                                   detail=f"{int(ev.undefined_at.sum())} of {got.size} terms undefined by the "
                                          f"mathematics ({ev.undefined}): {self.adapter.name} returns {shown} there; "
                                          f"the other terms agree")

    def judged(self, o: Oracle, name: str, lo: Any, hi: Any, scale: Any, actual: Any) -> Record:
        verdict = judge(lo, hi, scale, actual, self.tol)
        extra: dict[str, Any] = {"expected": summary(lo), "actual": summary(actual)}
        if actual is not None:
            error_ulp = ulps(lo, hi, actual, self.dtype)
            extra["error_ulp"] = error_ulp if math.isfinite(error_ulp) else "inf"
        policy = self.adapter.policy(self.case.loss)
        if verdict.outcome != "agree" and policy is not None:
            (plo, phi), pscale = self.by_policy(o, name)
            pv: Verdict = judge(plo, phi, pscale, actual, self.tol)
            extra["policy_expected"] = summary(plo)
            if pv.outcome == "agree":
                return self.record(name, "documented", verdict.error_eps,
                                   f"{policy.summary}; the mathematics: {verdict.detail}",
                                   citation=policy.citation, policy_error_eps=pv.error_eps, **extra)
            # It misses its own documented policy too: report what remains beyond it.
            verdict = Verdict(pv.outcome, pv.error_eps,
                              f"beyond its documented policy ({policy.summary}): {pv.detail}", pv.at)
        return self.record(name, verdict.outcome, verdict.error_eps, verdict.detail, at=verdict.at, **extra)

    def by_policy(self, o: Oracle, name: str) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """The policy oracle's (bounds, scale) for a check, evaluated once, on first need."""
        if not self._policy_evaluation:
            knobs = self.adapter.policy(self.case.loss).knobs_for(self.dtype)
            self._policy_evaluation.append(evaluate(self.case, o.arrays, knobs, self.dtype)[0])
        pe = self._policy_evaluation[0]
        if name == "value":
            return (pe.value, pe.value), pe.scale
        arg = name.split(":", 1)[1]
        return pe.grads[arg], pe.grad_scales[arg]

    def against_cpu(self, o: Oracle, wrt: tuple[str, ...], out: Output,
                    backward_failure: str | None) -> list[Record]:
        """The same framework on the CPU, same inputs: a ``device-mismatch`` record per
        check where the device's result differs from the CPU's beyond the tolerance
        (with the oracle's scale), or where only one of them refuses."""
        cpu = run(self.adapter, self.case, o.arrays, self.dtype, "cpu", wrt, self.mode)
        return self.against(o, wrt, (out, None, backward_failure), cpu, "device", "device-mismatch",
                            self.device, "cpu", "cpu")

    def against_default_mode(self, o: Oracle, wrt: tuple[str, ...], out: Output | None, failure: str | None,
                             backward_failure: str | None) -> list[Record]:
        """In a mode other than the default: the same framework's plain call, same inputs
        and device: a ``mode-mismatch`` record per check where the two differ beyond the
        tolerance, or where only one of them refuses."""
        if self.mode is None:
            return []
        ask = getattr(self.adapter, "plain_dtype", None)
        plain_dtype = ask(self.mode, self.dtype) if ask else self.dtype
        plain = run(self.adapter, self.case, o.arrays, plain_dtype, self.device, wrt)
        default = self.adapter.default_mode if plain_dtype == self.dtype else \
            f"{self.adapter.default_mode} in {plain_dtype}"
        return self.against(o, wrt, (out, failure, backward_failure), plain, "mode", "mode-mismatch",
                            self.mode, default, "plain", for_dtype(plain_dtype))

    def against(self, o: Oracle, wrt: tuple[str, ...], mine: tuple, theirs: tuple, prefix: str, outcome: str,
                here: str, there: str, field: str, value_tol: Tolerance | None = None) -> list[Record]:
        """One framework's result (``mine``: output, forward and backward failure) against
        its own result elsewhere (``theirs``: on the CPU, in the default mode): where
        only one refuses, or a check differs beyond the tolerance (the value's
        ``value_tol`` where the other computes in another dtype: autocast's float32)."""
        out, failure, backward_failure = mine
        other, other_failure, other_backward_failure = theirs
        if (failure is None) != (other_failure is None):
            refuses, computes = (there, here) if failure is None else (here, there)
            return [self.record(f"{prefix}:value", outcome, detail=f"{refuses} refuses what {computes} computes",
                                raised=other_failure or failure,
                                **({field: summary(other.value)} if other is not None else {}),
                                **({"actual": summary(out.value)} if out is not None else {}))]
        if failure is not None:
            return []
        if (other_backward_failure is None) != (backward_failure is None):
            refuses = there if backward_failure is None else here
            return [self.record(f"{prefix}:grad", outcome, detail=f"the backward is refused on {refuses} only",
                                raised=other_backward_failure or backward_failure)]
        ev = o.evaluation
        scale = ev.scale if o.error is None else np.abs(np.asarray(other.value, np.float64))
        # a value the mathematics leaves undefined has no right answer to differ from: the
        # report's undefined table shows each one's
        pairs = [] if o.error is None and ev.undefined else [("value", other.value, out.value, scale)]
        if backward_failure is None and o.error is None:
            pairs += [(f"grad:{n}", other.grads.get(n), out.grads.get(n), ev.grad_scales[n]) for n in wrt]
        found = []
        for name, theirs_value, mine_value, scale in pairs:
            tol = (value_tol or self.tol) if name == "value" else self.tol
            verdict = device_verdict(theirs_value, mine_value, scale, tol)
            if verdict.outcome != "agree" and o.error is None and self.adapter.policy(self.case.loss) is not None:
                # where the framework follows a documented policy the oracle's scale may say
                # nothing (0 where the mathematics is undefined): the policy's scale is the
                # size of what both results compute
                _, policy_scale = self.by_policy(o, name)
                wider = np.fmax(np.asarray(scale, np.float64), np.asarray(policy_scale, np.float64))
                verdict = device_verdict(theirs_value, mine_value, wider, tol)
            if verdict.outcome != "agree":
                found.append(self.record(f"{prefix}:{name}", outcome, verdict.error_eps,
                                         f"{here} vs {there}: {verdict.detail}", at=verdict.at,
                                         actual=summary(mine_value),
                                         **{field: summary(theirs_value)}))
        if o.error is None and ev.undefined:
            found = [_of_an_undefined_value(r, ev.undefined) for r in found]
        return found


def _of_an_undefined_value(record: Record, why: str) -> Record:
    """A failing gradient record of a case whose value the mathematics leaves undefined
    says so (findings about such gradients match it: a forward-mode 0/0)."""
    if record.outcome == "agree":
        return record
    return dataclasses.replace(record, detail=f"{record.detail}; the value is undefined ({why})")


def _mode_unsupported(adapter: FrameworkAdapter, mode: str, loss: str) -> str | None:
    ask = getattr(adapter, "mode_unsupported", None)
    return ask(mode, loss) if ask else f"{adapter.name} (an adapter without modes) runs in its default mode only"


def device_verdict(on_cpu: Any, on_device: Any, scale: Any, tol: Tolerance) -> Verdict:
    """A device's result against the same framework's CPU result. Identical
    results (NaN where NaN) agree, whatever they are; otherwise the tolerance is
    the oracle's scale or the magnitude of the CPU result, whichever is larger
    (the oracle's scale may be infinite, an infinite term the framework clamps,
    or 0, where it expects an exact 0 that neither device computes): both are
    the framework's answers, neither is the mathematics."""
    if on_cpu is not None and on_device is not None and np.shape(on_cpu) == np.shape(on_device) and \
            np.array_equal(np.asarray(on_cpu, np.float64), np.asarray(on_device, np.float64), equal_nan=True):
        return Verdict("agree", 0.0)
    if on_cpu is not None:
        scale = np.broadcast_to(np.asarray(scale, np.float64), np.shape(on_cpu))
        magnitude = np.abs(np.asarray(on_cpu, np.float64))
        scale = np.where(np.isfinite(scale), np.maximum(scale, magnitude), magnitude)
    return judge(on_cpu, on_cpu, scale, on_device, tol)


def _shown(value: Any) -> str:
    a = np.asarray(value, np.float64) if value is not None else None
    if a is None:
        return "nothing"
    return f"{a.item():.6g}" if a.size == 1 else f"an array of shape {list(a.shape)}"
