"""Turn records into what the report shows: the matrix, the examples, the
documents' table. Pure functions over plain data; no rendering here."""
from __future__ import annotations

import collections
from typing import Any, Iterable, Mapping

import numpy as np

from conformance import documents, search
from conformance import edge_coverage as _edge_coverage
from conformance.oracle import oracle
from conformance.vocab import catalog
from conformance.vocab.case import Case
from conformance.vocab.records import FAILING, Record
from conformance.vocab.dtypes import DTYPES
from conformance.vocab.tolerance import for_dtype

# A cell's colour is its worst outcome. "undefined" ranks below "agree": a cell that agrees
# wherever the mathematics defines the value is an agreeing cell (its 0/0 cases have their own table).
SEVERITY = ("undefined", "agree", "unsupported", "documented", "device-mismatch", "mode-mismatch", "mismatch", "nonfinite-mismatch",
            "error-mismatch", "timeout", "crash")


def worst(outcomes: Iterable[str]) -> str:
    return max(outcomes, key=SEVERITY.index, default="")


def matrix(records: list[Record], cases: Mapping[str, Case]) -> dict[str, Any]:
    """Rows (loss, variant) x columns (framework, dtype): worst outcome, counts, worst error."""
    cells: dict[tuple, list[dict]] = collections.defaultdict(list)
    for r in records:
        cells[(r.loss, r.variant, r.framework, r.dtype)].append(r)
    rows = sorted({(k[0], k[1]) for k in cells}, key=lambda rv: (_loss_order(rv[0]), rv[1]))
    columns = sorted({(k[2], k[3]) for k in cells}, key=lambda c: (c[0], dtype_order(c[1])))
    table = {}
    for key, rs in cells.items():
        errs = [r.error_eps for r in rs if isinstance(r.error_eps, (int, float))]
        table[key] = {"outcome": worst(r.outcome for r in rs),
                      "counts": collections.Counter(r.outcome for r in rs),
                      "worst_eps": max(errs) if errs else None,
                      "explained": all(r.finding for r in rs if r.outcome in FAILING)}
    return {"rows": rows, "columns": columns, "cells": table,
            "frameworks": sorted({c[0] for c in columns})}


def coverage(records: list[Record]) -> dict[str, Any]:
    """Loss x framework: how the framework covered it in this run (native / composed /
    unsupported, counted over variant x reduction) and the APIs it called."""
    kinds: dict[tuple, set] = collections.defaultdict(set)
    apis: dict[tuple, set] = collections.defaultdict(set)
    for r in records:
        kinds[(r.loss, r.framework)].add((r.variant, r.reduction, (r.support or "")))
        if r.api:
            apis[(r.loss, r.framework)].add(r.api)
    losses = sorted({k[0] for k in kinds}, key=_loss_order)
    frameworks = sorted({k[1] for k in kinds})
    cells = {}
    for key, found in kinds.items():
        counts = collections.Counter(kind for _, _, kind in found)
        main = max(counts, key=lambda k: (counts[k], k))
        text = main if len(counts) == 1 else ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        cells[key] = {"text": text, "kind": main, "apis": sorted(apis[key])}
    return {"losses": losses, "frameworks": frameworks, "cells": cells}


def edge_coverage(cases: Mapping[str, Case]) -> list[dict[str, Any]]:
    """Per loss of the run: each group of special inputs (structures, each argument's
    special values, parameter boundaries, coincident and tied inputs), how many of
    those the spec calls for its cases met, and which it missed (conformance/edge_coverage.py)."""
    met = _edge_coverage.met(cases.values())
    rows = []
    for loss in sorted(met, key=_loss_order):
        spec = catalog.get(loss)
        groups: dict[str, dict[str, list]] = collections.defaultdict(lambda: {"met": [], "missed": []})
        for tag in _edge_coverage.wanted(spec):
            group, _, name = tag.partition(":") if ":" in tag else (tag, "", tag)
            groups[group]["met" if met[loss].get(tag) else "missed"].append(name)
        rows.append({"loss": loss, "cases": sum(1 for c in cases.values() if c.loss == loss),
                     "groups": dict(groups)})
    return rows


def undefined(records: list[Record], cases: Mapping[str, Case]) -> dict[str, Any]:
    """Where the mathematics is undefined (0/0): per case and dtype, what each
    framework returns (a number, NaN, or a refusal), side by side."""
    rows: dict[tuple, dict[str, str]] = {}
    for r in records:
        if r.outcome != "undefined" or r.check != "value":
            continue
        key = (r.loss, r.case, r.reduction, r.dtype)
        got = "refuses" if r.refused else _first(r.actual, r.at)
        rows.setdefault(key, {})[r.framework] = got
    frameworks = sorted({fw for row in rows.values() for fw in row})
    out = []
    for (loss, case, reduction, dtype), row in sorted(rows.items(), key=lambda kv: (_loss_order(kv[0][0]), kv[0])):
        c = cases.get(case)
        out.append({"loss": loss, "note": c.note if c else case, "reduction": reduction, "dtype": dtype,
                    "frameworks": row, "agree": len(set(row.values())) == 1})
    return {"rows": out, "frameworks": frameworks}


def _first(summary_: Mapping[str, Any] | None, at: Any = None) -> str:
    """The value at ``at`` (the first undefined term), else the first."""
    if not summary_ or not summary_.get("data"):
        return "—"
    data, shape = summary_["data"], tuple(summary_.get("shape", ()))
    flat = int(np.ravel_multi_index(tuple(at), shape)) if at and len(at) == len(shape) else 0
    value = data[flat] if flat < len(data) else data[0]
    return value if isinstance(value, str) else f"{value:.6g}"


def dtype_order(dtype: str) -> int:
    """The dtypes in DTYPES order (float64 first), an unknown one last."""
    return list(DTYPES).index(dtype) if dtype in DTYPES else len(DTYPES)


def _loss_order(loss: str) -> int:
    order = {name: i for i, name in enumerate(catalog.catalog())}
    return order.get(loss, len(order))


def example(r: dict[str, Any], cases: Mapping[str, Case], limit: int = 24) -> dict[str, Any]:
    """One record shown in full: its case's inputs and parameters, the oracle's value, the
    documented policy's value and the framework's value (arrays as text)."""
    case = cases.get(r.case)
    return {"record": r, "note": case.note if case else "",
            "params": dict(case.params) if case else {},
            "inputs": {k: _show(v, limit) for k, v in (case.arrays.items() if case else [])},
            "expected": _show_enc(r.expected),
            "policy_expected": _show_enc(r.policy_expected),
            "actual": _show_enc(r.actual), "relative": relative_error(r)}


def relative_error(r: Record) -> str:
    """|actual - expected| / |expected| at the worst element, as text ("" when the record
    holds no pair of numbers there: a refusal, or an element past the summaries' cut)."""
    pair = [_element(enc, r.at) for enc in (r.expected, r.actual)]
    if any(v is None for v in pair):
        return ""
    expected, actual = pair
    if np.isnan(expected) or np.isnan(actual):
        return "" if np.isnan(expected) and np.isnan(actual) else "∞ (NaN)"
    if expected == actual:
        return "0"
    if expected == 0 or np.isinf(expected) or np.isinf(actual):
        return "∞"
    return f"{abs(actual - expected) / abs(expected):.3g}"


def _element(enc: Mapping[str, Any] | None, at: Any) -> float | None:
    if not enc or not enc.get("data"):
        return None
    shape = tuple(enc.get("shape", ()))
    flat = int(np.ravel_multi_index(tuple(at), shape)) if at and shape and len(at) == len(shape) else 0
    data = enc["data"]
    if flat >= len(data) or (not at and len(data) > 1):
        return None
    value = data[flat]
    return float(value) if isinstance(value, (int, float, str)) else None


def dtype_support(records: list[Record]) -> dict[str, Any]:
    """Per (loss, framework) and dtype: claimed or not, and whether forward and backward
    actually ran on valid input: ``runs`` (with how many cases it refused, if any),
    ``refused`` (every case, with the framework's own error text), or ``not run``
    (no recipe, nothing to differentiate)."""
    cells: dict[tuple, dict[str, Any]] = {}
    for r in records:
        c = cells.setdefault((r.loss, r.framework, r.dtype), {
            "claimed": r.claimed, "ran": {"forward": 0, "backward": 0},
            "refused": {"forward": 0, "backward": 0}, "reasons": []})
        stage = "forward" if r.check == "value" else "backward"
        if r.refused:
            c["refused"][r.refused] += 1
            if r.raised not in c["reasons"]:
                c["reasons"].append(r.raised)
        elif r.expected is not None:
            c["ran"][stage] += 1
        elif r.outcome == "unsupported" and not c["reasons"]:
            c["reasons"].append(r.detail)
    for c in cells.values():
        for stage in ("forward", "backward"):
            ran, refused = c["ran"][stage], c["refused"][stage]
            c[stage] = ("runs" if ran else "refused" if refused else "not run") + \
                (f" ({refused} refused)" if ran and refused else "")
        c["works"] = c["ran"]["forward"] > 0
    return {"rows": sorted({(k[0], k[1]) for k in cells}, key=lambda lf: (_loss_order(lf[0]), lf[1])),
            "dtypes": sorted({k[2] for k in cells}, key=dtype_order), "cells": cells}


def accuracy(records: list[Record], baseline: str = "numpy") -> dict[str, Any]:
    """Measured error in eps units per (loss, value/gradient, dtype) and framework:
    worst, median, and the worst as a multiple of the plain NumPy implementation's
    worst in the same dtype (the baseline a framework should not fall behind)."""
    errors: dict[tuple, list[float]] = collections.defaultdict(list)
    for r in records:
        if isinstance(r.error_eps, (int, float)) and r.outcome != "unsupported":
            kind = "value" if r.check == "value" else "gradient"
            errors[(r.loss, kind, r.dtype, r.framework)].append(float(r.error_eps))
    rows = sorted({k[:3] for k in errors}, key=lambda k: (_loss_order(k[0]), k[1], dtype_order(k[2])))
    frameworks = sorted({k[3] for k in errors}, key=lambda f: (f != baseline, f))
    cells = {}
    for key, errs in errors.items():
        base = errors.get((*key[:3], baseline))
        worst_base = max(base) if base else None
        cells[key] = {"worst": max(errs), "median": float(np.median(errs)), "n": len(errs),
                      "vs_baseline": (max(errs) / worst_base if worst_base else None)}
    return {"rows": rows, "frameworks": frameworks, "cells": cells, "baseline": baseline}


def ulp_ranking(records: list[Record]) -> list[dict[str, Any]]:
    """Per (loss, value/gradient, dtype), the frameworks ranked by their worst error in
    ulps of the correctly rounded result (then by the median): a framework that rounds
    once (computes in a wider type) ranks above one that rounds at every step."""
    errors: dict[tuple, list[float]] = collections.defaultdict(list)
    for r in records:
        if r.error_ulp is not None and r.outcome != "unsupported":
            kind = "value" if r.check == "value" else "gradient"
            errors[(r.loss, kind, r.dtype, r.framework)].append(float(r.error_ulp))
    rows: dict[tuple, list[dict[str, Any]]] = collections.defaultdict(list)
    for (loss, kind, dtype, framework), errs in errors.items():
        rows[(loss, kind, dtype)].append({"framework": framework, "worst": max(errs),
                                          "median": float(np.median(errs)), "n": len(errs)})
    ordered = sorted(rows, key=lambda k: (_loss_order(k[0]), k[1], dtype_order(k[2])))
    return [{"loss": k[0], "check": k[1], "dtype": k[2],
             "ranked": sorted(rows[k], key=lambda c: (c["worst"], c["median"], c["framework"]))} for k in ordered]


def accuracy_by_size(records: list[Record], cases: Mapping[str, Case]) -> dict[str, Any]:
    """Worst error of the LLM-scale cases per (loss, shape, check) and (framework, dtype):
    how accuracy holds up as the vocabulary grows."""
    worst_at: dict[tuple, float] = {}
    for r in records:
        case = cases.get(r.case)
        if case is None or r.variant not in ("large", "large_cuda") or not isinstance(r.error_eps, (int, float)):
            continue
        kind = "value" if r.check == "value" else "gradient"
        key = (r.loss, tuple(case.arrays["input"].shape), kind, r.framework, r.dtype)
        worst_at[key] = max(worst_at.get(key, 0.0), float(r.error_eps))
    rows = sorted({k[:3] for k in worst_at}, key=lambda k: (_loss_order(k[0]), k[1][1], k[1][0], k[2]))
    columns = sorted({k[3:] for k in worst_at}, key=lambda c: (c[0], dtype_order(c[1])))
    cells = {k: {"error": e, "agrees": e <= for_dtype(k[4]).k} for k, e in worst_at.items()}
    return {"rows": rows, "columns": columns, "cells": cells}


def worst_inputs(records: list[Record], cases: Mapping[str, Case]) -> list[Record]:
    """The worst (shrunk) input the targeted search found per cell, framework and dtype,
    largest error first."""
    found: dict[tuple, dict[str, Any]] = {}
    for r in records:
        if r.search is None:
            continue
        key = (r.loss, r.variant, r.reduction, r.framework, r.device, r.dtype)
        entry = found.setdefault(key, {"key": key, "stats": r.search, "case": cases.get(r.case),
                                       "worst_check": r.check, "outcomes": set(), "findings": set()})
        entry["outcomes"].add(r.outcome)
        if r.finding:
            entry["findings"].add(r.finding)
        if search.score([r]) >= entry["stats"]["score"]:
            entry["worst_check"] = r.check
    out = []
    for entry in found.values():
        c = entry["case"]
        out.append({**entry, "outcome": worst(entry["outcomes"]),
                    "inputs": {k: _show(v, 8) for k, v in (c.arrays.items() if c else [])},
                    "params": dict(c.params) if c else {}})
    return sorted(out, key=lambda e: -e["stats"]["score"])


def _show(a: np.ndarray, limit: int = 24) -> str:
    text = np.array2string(np.asarray(a).ravel()[:limit], precision=6, separator=", ", max_line_width=100)
    more = f" … ({np.asarray(a).size} elements, shape {tuple(np.shape(a))})" if np.size(a) > limit else \
        f"  shape {tuple(np.shape(a))}"
    return text + more


def _show_enc(enc: Mapping[str, Any] | None) -> str:
    if not enc:
        return ""
    data = [float(x) if isinstance(x, str) else x for x in enc["data"]]
    return np.array2string(np.array(data, dtype=np.float64), precision=9, separator=", ") + \
        f"  shape {tuple(enc['shape'])}"


def document_table(records: list[Record]) -> list[Record]:
    """One row per worked example: stated, oracle, each framework's value, verdict on the document."""
    values: dict[tuple[str, str], str] = {}
    for r in records:
        if r.origin == "document" and r.check == "value":
            values[(r.case, r.framework, r.dtype)] = (
                f"raises {r.raised[:160]}" if r.raised else _show_enc(r.actual) or r.outcome)
    frameworks = sorted({r.framework for r in records})
    rows = []
    for ex in documents.examples():
        o = oracle(ex.case, ex.dtype)
        ev = o.evaluation
        verdict = documents.judge(ex, None if ev is None else ev.value, None if ev is None else ev.scale,
                                  o.error, k=for_dtype(ex.dtype).k)
        rows.append({"example": ex, "verdict": verdict,
                     "oracle": o.error and f"refuses: {o.error}" or _show(ev.value),
                     "stated": ex.stated_error or (", ".join(ex.stated) if ex.stated else "—"),
                     "frameworks": {fw: values.get((ex.case.id, fw, ex.dtype), "not run") for fw in frameworks}})
    return rows

