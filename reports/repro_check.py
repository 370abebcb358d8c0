"""Running a written reproducer in this process, and comparing what it computes with
what the suite's adapter computes on the same case."""
from __future__ import annotations

import contextlib
import io
import sys
import traceback
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from conformance.vocab.tolerance import for_dtype

from .repro_example import Example, checked


def run_script(path: Path) -> tuple[int, str, dict[str, Any]]:
    """Execute a written script in this process, as a module of its own (dataclasses in
    inlined code look their module up): (exit code, what it printed, its namespace)."""
    module = types.ModuleType("loss_conformance_reproducer")
    module.__file__ = str(path)
    out = io.StringIO()
    sys.modules[module.__name__] = module
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)  # noqa: S102
                code = module.main()
            except Exception as exc:  # noqa: BLE001 - a broken script is a status, not a crash of the report
                print(f"the script failed: {' '.join(traceback.format_exception_only(type(exc), exc)).strip()}")
                code = 2
    finally:
        sys.modules.pop(module.__name__, None)
    return code, out.getvalue(), module.__dict__


def _adapter_result(ex: Example) -> Any:
    """The checked quantity as the suite's adapter computes it now (the forward alone when
    the backward is refused, as the engine does)."""
    r, check = ex.record, ex.record.check
    try:
        out = ex.adapter.run(ex.case, ex.oracle.arrays, r.dtype, r.device, ex.wrt)
    except Exception:  # noqa: BLE001
        if check != "value":
            raise
        out = ex.adapter.run(ex.case, ex.oracle.arrays, r.dtype, r.device, ())
    return out.value if check == "value" else out.grads.get(check.split(":", 1)[1])


def same_as_adapter(ex: Example, namespace: dict[str, Any], inputs: Path) -> str:
    """'' when the script computes what the suite's adapter computes now, else why not. A
    framework whose own result differs from run to run (uninitialised memory) passes."""
    scale = checked(ex.oracle.evaluation, ex.record.check)[2]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            got = namespace["compute"](dict(np.load(inputs)))
            ours = _adapter_result(ex)
            if ours is None:
                return "the adapter gives no such gradient"
            problem = _differs(ours, got, scale, ex.record.dtype)
            if problem and _differs(ours, _adapter_result(ex), scale, ex.record.dtype):
                return ""
        except Exception as exc:  # noqa: BLE001
            return f"could not compare with the adapter ({type(exc).__name__}: {exc})"
    return problem


def _differs(ours: Any, got: Any, scale: Any, dtype: str) -> str:
    """'' when the script's result is the adapter's: the same NaNs and infinities, and the
    finite elements within the tolerance (k eps scale + tiny); else what differs."""
    a, b = np.asarray(ours, np.float64), np.asarray(got, np.float64)
    if a.shape != b.shape:
        return f"the script's result has shape {b.shape}, the suite's {a.shape}"
    if not (np.array_equal(np.isnan(a), np.isnan(b))
            and np.array_equal(np.where(np.isinf(a), a, 0), np.where(np.isinf(b), b, 0))):
        return "the script's NaNs or infinities are not where the suite's are"
    tol = for_dtype(dtype)
    finite = np.isfinite(a)
    limit = tol.k * tol.eps * np.broadcast_to(np.abs(np.nan_to_num(scale, posinf=0.0)), a.shape) + tol.tiny
    with np.errstate(invalid="ignore"):
        off = finite & ~(np.abs(a - b) <= limit)
    if off.any():
        i = tuple(int(j) for j in np.argwhere(off)[0])
        return f"the script computes something else than the suite did (at {i}: {b[i]!r}, the suite {a[i]!r})"
    return ""
