"""Multi-class margin losses of torch.nn (MultiMargin, MultiLabelMargin) and the hinge
helpers the whole margin family shares (``pairs`` imports them).

Both losses are sums of hinges :math:`\\max(0, z)` over pairs of classes of one
row. At a corner (:math:`z = 0`) each hinge's subdifferential is the segment
between 0 and its active gradient; the subdifferential of the sum is the sum of
the segments, so the bounds of the hinges add.

Near a corner the gradient is as badly conditioned as a gradient can be: z is
computed from several operands (margin - x_y + x_i), with a rounding error of
about eps * s, s = the sum of their magnitudes, and an error that crosses 0
changes the gradient by the whole jump |dz|. ``kink_scale`` states that
condition number in the units of the tolerance (k * eps * scale): a hinge adds
|dz| * s / |z| to its gradients' scales, so the jump is accepted exactly when the
point lies within k * eps * s of the corner (its value is then indistinguishable
from 0 in the test dtype), and adds a negligible k * eps * s / |z| relative slack
elsewhere. A point off the corner by more than that (a subnormal input flushed
to zero, a wrong branch) is still a mismatch.
"""
from __future__ import annotations

import math

import numpy as np

from .._common import DomainError, Evaluation, condition, reduce, row_sum, times


def finite_abs(a: np.ndarray) -> np.ndarray:
    """|a| where finite, 0 elsewhere: the size of what is rounded (an infinite
    operand gives an exact limit, and an infinite scale would accept anything)."""
    return np.where(np.isfinite(a), np.abs(a), np.zeros_like(a))


def hinge(z: np.ndarray) -> np.ndarray:
    """max(0, z), NaN where z is NaN."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(z), z, np.maximum(z, np.zeros_like(z)))


def hinge_bounds(z: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subgradient bounds of max(0, z) through dz = dz/dx: dz where z > 0, 0 where
    z < 0, every value between 0 and dz at the corner z = 0, and NaN where z is NaN
    (a NaN input has no derivative; 0 there would hide the NaN)."""
    dz = dz * np.ones_like(z)
    zero = np.zeros_like(dz)
    at = z == 0
    g = np.where(z > 0, dz, np.where(np.isnan(z), np.nan, zero))
    return np.where(at, np.minimum(zero, dz), g), np.where(at, np.maximum(zero, dz), g)


def kink_scale(z: np.ndarray, s: np.ndarray, dz) -> np.ndarray:
    """|dz| * s / |z|: the gradient's sensitivity to the rounding of z (see the module
    docstring); 0 at the corner itself (the subgradient bounds cover it) and where z
    is not finite."""
    dz = np.abs(dz) * np.ones_like(z)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.abs(s) / np.abs(z)
    return np.where((z != 0) & np.isfinite(z) & np.isfinite(ratio), dz * ratio, np.zeros_like(z))


def scaled(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval {a s : lo <= s <= hi}, elementwise (NaN propagates)."""
    return np.minimum(a * lo, a * hi), np.maximum(a * lo, a * hi)


def _rows(input: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """(N, C) rows (an unbatched (C,) input gains a batch axis) and whether it was unbatched."""
    if input.ndim not in (1, 2):
        raise DomainError(f"{name}: input must have shape (C,) or (N, C), got {input.shape}")
    return (input[None], True) if input.ndim == 1 else (input, False)


def _integer(name: str, target: np.ndarray) -> None:
    if not np.issubdtype(target.dtype, np.integer):
        raise DomainError(f"{name}: target must hold class indices (an integer dtype), got {target.dtype}")


def _class_weights(weight: np.ndarray | None, classes: int, dtype) -> np.ndarray:
    if weight is None:
        return np.ones(classes, dtype=dtype)
    if weight.shape != (classes,):
        raise DomainError(f"weight must have shape ({classes},) (one per class), got {weight.shape}")
    return weight


def multi_margin(input: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None = None,
                 p: int = 1, margin: float = 1.0, reduction: str = "mean") -> Evaluation:
    r"""Multi-class hinge, :math:`\ell_n = \frac{1}{C}\sum_{i \ne y_n} w_{y_n}
    \max(0, \text{margin} - x_{n,y_n} + x_{n,i})^p`, p in {1, 2}.

    torch.nn.MultiMarginLoss (https://pytorch.org/docs/stable/generated/torch.nn.MultiMarginLoss.html):
    input (N, C) or (C,), target (N,) or () of class indices in [0, C); the
    weight (C,) multiplies the whole term of the target class,
    :math:`w[y] \max(\cdot)^p` ("p (int, optional): 1 and 2 are the only supported
    values"); 'mean' is the plain mean over the N samples ("the sum of the output
    will be divided by the number of elements in the output"), not a mean
    weighted by w[y] as in CrossEntropyLoss. torch's CPU kernel
    (aten/src/ATen/native/LossMultiMargin.cpp, multi_margin_inner_sum_cpu)
    computes ``h = z or z * z; h *= weight[target]; sum /= dim`` in that order.
    JAX/optax and TF/Keras have no multi-class hinge of this form.
    Gradient: :math:`w_y p h^{p-1} / C` on each :math:`x_i`, minus their sum on
    :math:`x_y`; with p = 1 a corner gives the segment [0, w_y / C] per hinge.
    The condition counts the scores, the margin (its derivative is that sum) and
    w[y], which moves the term by its own size.
    """
    if p not in (1, 2):
        raise DomainError(f"multi_margin: p must be 1 or 2, got {p!r}")
    rows, unbatched = _rows(input, "multi_margin")
    _integer("multi_margin", target)
    m, classes = rows.shape
    if target.shape != (() if unbatched else (m,)):
        raise DomainError(f"multi_margin: target shape {target.shape} does not match input {input.shape}: "
                          f"expected {() if unbatched else (m,)}")
    t = target.reshape(-1)
    bad = (t < 0) | (t >= classes)
    if np.any(bad):
        raise DomainError(f"multi_margin: class index {t[bad][0]} out of range [0, {classes})",
                          value_dependent=True)
    w = _class_weights(weight, classes, rows.dtype)
    at = np.arange(m)
    other = np.ones(rows.shape, dtype=bool)
    other[at, t] = False
    xt = rows[at, t][:, None]
    c = (w[t] / classes)[:, None]                        # (M, 1): w[y] / C
    with np.errstate(invalid="ignore", over="ignore"):
        z = margin - xt + rows
        h = np.where(other, hinge(z), np.zeros_like(z))
        terms = (c * h if p == 1 else c * h * h).sum(axis=1)     # scaled before the sum
        s = np.where(other, abs(margin) + finite_abs(xt) + finite_abs(rows), np.zeros_like(rows))
        scale = (np.abs(c) * (s if p == 1 else 3.0 * s * s)).sum(axis=1)
        if p == 1:
            lo, hi = hinge_bounds(z, rows.dtype.type(1))
        else:
            lo = hi = 2.0 * h
        lo, hi = np.where(other, lo, np.zeros_like(lo)), np.where(other, hi, np.zeros_like(hi))
        g_lo, g_hi = scaled(c, lo, hi)
        t_lo, t_hi = scaled(-c[:, 0], lo.sum(axis=1), hi.sum(axis=1))   # d/dx_y = -sum of the others
        g_lo[at, t], g_hi[at, t] = t_lo, t_hi
        each = np.abs(c) * (np.ones_like(s) + kink_scale(z, s, 1.0) if p == 1 else 2.0 * s)
        gscale = np.where(other, each, np.zeros_like(each))
        gscale[at, t] = gscale.sum(axis=1)
        # at a corner, the larger bound of each derivative (hi >= lo >= 0 per hinge)
        slope = np.maximum(np.abs(g_lo), np.abs(g_hi))
        parts = [(row_sum(times(slope, np.abs(rows))), 1.0),
                 (np.abs(c[:, 0]) * hi.sum(axis=1), np.asarray(margin, rows.dtype))]
        if weight is not None:
            parts.append((np.abs(terms), 1.0))
        cond = condition(terms, *parts)
        sums = math.log2(max(classes, 1)) * np.abs(c[:, 0]) * (h if p == 1 else h * h).sum(axis=1)
    if unbatched:
        terms, scale, g_lo, g_hi, gscale, cond, sums = (a[0] for a in (terms, scale, g_lo, g_hi, gscale, cond, sums))
    return reduce(terms, scale, {"input": (g_lo, g_hi)}, {"input": gscale}, reduction,
                  condition=cond, sums=sums)


def multilabel_margin(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Multi-label hinge, :math:`\ell_n = \frac{1}{C}\sum_{j}\sum_{i \notin T_n}
    \max(0, 1 - (x_{n,y_{n,j}} - x_{n,i}))`.

    torch.nn.MultiLabelMarginLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.MultiLabelMarginLoss.html):
    input (N, C) or (C,); target of the same shape, "label targets padded by
    -1": the targets :math:`y_{n,j}` are the entries before the first -1 ("the
    criterion only considers a contiguous block of non-negative targets that
    starts at the front"), :math:`T_n` is the set of them, and i runs over the
    classes not in it ("i != y[j] for all i and j"). j runs over the entries, so
    a repeated index counts once per repetition. Every entry must be a class
    index or the padding -1: anything else is refused (torch refuses it too,
    even after the first -1: aten/src/ATen/native/LossMultiLabelMargin.cpp checks
    ``target.min() >= -1`` and ``target.max() < dim`` over the whole target).
    A row with no target (-1 first) has loss 0. 'mean' is the mean over the N
    samples. JAX/optax and TF/Keras have no counterpart. Gradient: :math:`+1/C` per active pair on :math:`x_i`,
    :math:`-1/C` per active pair on :math:`x_{y_j}`; corners give segments.
    The condition counts the scores only (the 1 is a constant, the targets integers).
    """
    rows, unbatched = _rows(input, "multilabel_margin")
    _integer("multilabel_margin", target)
    if target.shape != input.shape:
        raise DomainError(f"multilabel_margin: target shape {target.shape} differs from input {input.shape}")
    t = target[None] if unbatched else target
    m, classes = rows.shape
    bad = (t < -1) | (t >= classes)
    if np.any(bad):
        raise DomainError(f"multilabel_margin: target entry {t[bad][0]} is neither a class index in "
                          f"[0, {classes}) nor the padding -1", value_dependent=True)
    listed = np.cumsum(t < 0, axis=1) == 0                          # (M, J): before the first -1
    ti = np.where(listed, t, 0)
    onehot = (ti[:, :, None] == np.arange(classes)) & listed[:, :, None]   # (M, J, C)
    is_target = onehot.any(axis=1)
    mask = listed[:, :, None] & ~is_target[:, None, :]             # pairs (j, i)
    xt = np.take_along_axis(rows, ti, axis=1)[:, :, None]
    x = rows[:, None, :]
    zero = np.zeros(mask.shape, rows.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        z = 1.0 - xt + x
        terms = np.where(mask, hinge(z), zero).sum(axis=(1, 2)) / classes
        s = np.where(mask, 1.0 + finite_abs(xt) + finite_abs(x), zero)
        scale = s.sum(axis=(1, 2)) / classes
        lo, hi = hinge_bounds(z, rows.dtype.type(1))
        lo, hi = np.where(mask, lo, zero), np.where(mask, hi, zero)
        # x_i (not a target): +1/C per active pair; x_{y_j}: -1/C per pair, summed per index
        tj_lo, tj_hi = -hi.sum(axis=2), -lo.sum(axis=2)            # (M, J)
        g_lo = (lo.sum(axis=1) + np.where(onehot, tj_lo[:, :, None], zero).sum(axis=1)) / classes
        g_hi = (hi.sum(axis=1) + np.where(onehot, tj_hi[:, :, None], zero).sum(axis=1)) / classes
        pairs = np.where(mask, 1.0 + kink_scale(z, s, 1.0), zero)   # per pair: 1 and its kink term
        per_j = pairs.sum(axis=2)
        gscale = (pairs.sum(axis=1) + np.where(onehot, per_j[:, :, None], zero).sum(axis=1)) / classes
        # a class is a target or not, so its derivative has one sign: the larger bound
        slope = np.maximum(np.abs(g_lo), np.abs(g_hi))
        cond = condition(terms, (row_sum(times(slope, np.abs(rows))), 1.0))
        # the double sum runs over the (J, C) pairs of the row
        sums = math.log2(max(mask.shape[1] * classes, 1)) * np.where(mask, hinge(z), zero).sum(axis=(1, 2)) / classes
    if unbatched:
        terms, scale, g_lo, g_hi, gscale, cond, sums = (a[0] for a in (terms, scale, g_lo, g_hi, gscale, cond, sums))
    return reduce(terms, scale, {"input": (g_lo, g_hi)}, {"input": gscale}, reduction,
                  condition=cond, sums=sums)


FUNCTIONS = {"multilabel_margin": multilabel_margin, "multi_margin": multi_margin}
