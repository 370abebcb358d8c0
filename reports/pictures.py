"""Pictures for the report, as inline SVG built here (no plotting library, no network).

``error_histograms``: per (device, dtype), the distribution of the measured error in eps
units of each framework's agreeing and failing checks, one panel per framework side by
side on a shared log10 axis, with the dtype's tolerance k marked. Every piece of text
that comes from the results is escaped.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from conformance.vocab.dtypes import DTYPES
from conformance.vocab.tolerance import for_dtype

from .frame import measured

LOW, HIGH, STEP = -3.0, 9.0, 0.5          # log10 range of the finite bins, half a decade each
PANEL_W, PANEL_H = 250, 190               # one framework's panel, margins included
LEFT, RIGHT, TOP, BOTTOM = 50, 10, 30, 44
INF_GAP, INF_W = 16, 12                   # the separate bin for infinite errors
WITHIN, BEYOND, INFINITE = "#3d85c6", "#d73027", "#40004b"


def _f(x: float) -> str:
    return f"{x:.1f}"


def _power(exponent: float) -> str:
    digits = str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return "1" if exponent == 0 else f"10{digits}"


def edges(k: float | None = None) -> np.ndarray:
    """Bin edges in log10(eps units): every half decade from LOW to HIGH, and log10(k), so
    that no bar holds errors both within and beyond the tolerance."""
    regular = np.arange(LOW, HIGH + STEP / 2, STEP)
    if k is None or not LOW < math.log10(k) < HIGH:
        return regular
    return np.union1d(regular, [math.log10(k)])


def histogram(errors: np.ndarray, k: float | None = None) -> tuple[np.ndarray, int]:
    """(counts of the finite bins of ``edges(k)``, count of infinite errors). Errors below
    10**LOW (exact results included) fall in the first bin, above 10**HIGH in the last
    finite one; an error of exactly k in the bin below k (it agrees)."""
    finite = errors[np.isfinite(errors)]
    with np.errstate(divide="ignore"):
        logs = np.clip(np.log10(np.maximum(finite, 0.0)), LOW, HIGH - 1e-9)
    bounds = edges(k)
    index = np.clip(np.searchsorted(bounds, logs, side="left") - 1, 0, len(bounds) - 2)
    return np.bincount(index, minlength=len(bounds) - 1), int(np.isinf(errors).sum())


def _amount(log: float) -> str:
    return f"{10.0 ** log:.3g}"


def _panel(x0: float, name: str, errors: np.ndarray, k: float | None, top: float) -> list[str]:
    """One framework's histogram at horizontal offset x0; ``top`` is the shared y maximum (%)."""
    counts, infinite = histogram(errors, k)
    bounds = edges(k)
    total = max(len(errors), 1)
    plot_w = PANEL_W - LEFT - RIGHT - INF_GAP - INF_W
    plot_h = PANEL_H - TOP - BOTTOM
    left, base = x0 + LEFT, TOP + plot_h

    def x(log: float) -> float:
        return left + (log - LOW) / (HIGH - LOW) * plot_w

    def y(share: float) -> float:
        """The top of a bar; at least 2 px high, so that one check in thousands still shows."""
        return min(base - plot_h * share / top, base - 2.0) if share > 0 else base

    out = [f'<g class="panel" data-framework="{escape(name)}">',
           f'<text x="{_f(left + plot_w / 2)}" y="16" text-anchor="middle" class="title">'
           f'{escape(name)} <tspan class="n">({len(errors)} checks)</tspan></text>',
           f'<rect x="{_f(left)}" y="{TOP}" width="{_f(plot_w)}" height="{_f(plot_h)}" class="frame"/>']
    for i, n in enumerate(counts):
        if not n:
            continue
        share = 100.0 * n / total
        lower, upper = bounds[i], bounds[i + 1]
        colour = WITHIN if k is not None and upper <= math.log10(k) + 1e-9 else BEYOND
        span = f"{_amount(lower) if i else '0'} to {_amount(upper) if i < len(counts) - 1 else '∞'}"
        out.append(f'<rect x="{_f(x(lower) + 0.5)}" y="{_f(y(share))}" width="{_f(x(upper) - x(lower) - 1)}" '
                   f'height="{_f(base - y(share))}" fill="{colour}"><title>{n} checks ({share:.1f}%): '
                   f'{span} eps</title></rect>')
    inf_x = left + plot_w + INF_GAP
    out.append(f'<rect x="{_f(inf_x)}" y="{TOP}" width="{INF_W}" height="{_f(plot_h)}" class="frame"/>')
    if infinite:
        share = 100.0 * infinite / total
        out.append(f'<rect x="{_f(inf_x + 1)}" y="{_f(y(share))}" width="{INF_W - 2}" '
                   f'height="{_f(base - y(share))}" fill="{INFINITE}"><title>{infinite} checks '
                   f'({share:.1f}%): infinite error (NaN/Inf where a number was due)</title></rect>')
    out.append(f'<text x="{_f(inf_x + INF_W / 2)}" y="{_f(base + 14)}" text-anchor="middle">∞</text>')
    for exponent in range(int(LOW), int(HIGH) + 1, 3):                      # x ticks
        at = x(exponent)
        out.append(f'<line x1="{_f(at)}" y1="{_f(base)}" x2="{_f(at)}" y2="{_f(base + 4)}" class="axis"/>'
                   f'<text x="{_f(at)}" y="{_f(base + 14)}" text-anchor="middle">{_power(exponent)}</text>')
    for share in _y_ticks(top):                                              # y ticks
        out.append(f'<line x1="{_f(left - 4)}" y1="{_f(y(share))}" x2="{_f(left)}" y2="{_f(y(share))}" '
                   f'class="axis"/><text x="{_f(left - 6)}" y="{_f(y(share) + 4)}" '
                   f'text-anchor="end">{share:g}%</text>')
    if k is not None:                                                        # the tolerance
        at = x(math.log10(k))
        out.append(f'<line x1="{_f(at)}" y1="{TOP - 2}" x2="{_f(at)}" y2="{_f(base)}" class="tolerance"/>'
                   f'<text x="{_f(at + 3)}" y="{TOP + 10}" class="tolerance-label">k = {k:g}</text>')
    out.append(f'<text x="{_f(left + plot_w / 2)}" y="{_f(base + 30)}" text-anchor="middle" class="label">'
               f'error (eps units, log scale)</text></g>')
    return out


def _y_ticks(top: float) -> list[float]:
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50) if top / s <= 5)
    return [float(v) for v in range(0, int(top) + 1, step)]


def error_histograms(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per (device, dtype): {device, dtype, svg}. Each framework's panel counts its checks
    with a measured error (agree and failing outcomes), as a share of those checks."""
    data = measured(frame)
    out = []
    for (device, dtype), part in data.groupby(["device", "dtype"]):
        k = for_dtype(dtype).k if dtype in DTYPES else None
        groups = {fw: part.loc[part["framework"] == fw, "error_eps"].to_numpy(np.float64)
                  for fw in sorted(part["framework"].unique())}
        top = min(100.0, math.ceil(max(_largest_share(e, k) for e in groups.values()) / 10.0) * 10.0)
        out.append({"device": device, "dtype": dtype, "svg": _svg(groups, k, top, f"{device} {dtype}")})
    return sorted(out, key=lambda p: (p["device"], list(DTYPES).index(p["dtype"])
                                      if p["dtype"] in DTYPES else len(DTYPES)))


def _largest_share(errors: np.ndarray, k: float | None) -> float:
    """The tallest bar of a panel, in % of its checks."""
    counts, infinite = histogram(errors, k)
    return 100.0 * max(int(counts.max(initial=0)), infinite, 1) / max(len(errors), 1)


def _svg(groups: dict[str, np.ndarray], k: float | None, top: float, title: str) -> Markup:
    width = PANEL_W * len(groups)
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" role="img" width="{width}" '
            f'height="{PANEL_H}" viewBox="0 0 {width} {PANEL_H}">',
            f'<title>Error distribution per framework, {escape(title)}</title>',
            f'<text x="12" y="{_f(TOP + (PANEL_H - TOP - BOTTOM) / 2)}" class="label" text-anchor="middle" '
            f'transform="rotate(-90 12 {_f(TOP + (PANEL_H - TOP - BOTTOM) / 2)})">% of checks</text>']
    for i, (name, errors) in enumerate(groups.items()):
        body += _panel(i * PANEL_W, name, errors, k, top)
    body.append("</svg>")
    return Markup("\n".join(body))
