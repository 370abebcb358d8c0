"""Sparsemax losses (Martins & Astudillo 2016; Blondel, Martins & Niculae 2020):
optax's binary ``sparsemax_loss`` and ``multiclass_sparsemax_loss``.

Both are Fenchel-Young losses of the Gini negentropy, so both are continuously
differentiable: the gradient is ``sparsemax(x) - onehot(y)`` (binary: the sparse
sigmoid minus the label) everywhere, also where the support of sparsemax changes
and at tied scores, since sparsemax itself is continuous there. Only the second
derivative jumps; the subdifferential is always one point.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import DomainError, Evaluation, condition, exact, reduce, row_sum, times


def sparsemax_loss(logits: np.ndarray, labels: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Binary sparsemax loss, :math:`\ell = \mathrm{sparse\_plus}(z)`, :math:`z = -x` if
    :math:`y = 1` else :math:`x`, with

    .. math:: \mathrm{sparse\_plus}(z) = 0 \;(z \le -1),\quad (z + 1)^2 / 4 \;(|z| < 1),\quad z \;(z \ge 1).

    optax.losses.sparsemax_loss
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.sparsemax_loss):
    "logits: score produced by the model (float); labels: ground-truth integer label
    (0 or 1)"; zero iff ``jax.nn.sparse_sigmoid(logits) == labels``
    (https://docs.jax.dev/en/latest/_autosummary/jax.nn.sparse_plus.html). It is the
    Fenchel-Young loss of :math:`\Omega(p) = p^2 - p` on [0, 1] (Blondel et al. 2020,
    Sec. 4.4). Labels outside {0, 1} are outside the documented domain (optax's
    ``jnp.where(labels, ...)`` would read any non-zero label as 1): refused.
    Gradient: :math:`\mathrm{sparse\_sigmoid}(x) - y`, sparse_sigmoid(x) =
    clip((x + 1) / 2, 0, 1); at :math:`x = \pm\infty` its limit (1 - y or -y).
    torch and TensorFlow have no sparsemax loss.
    """
    if logits.shape != labels.shape:
        raise DomainError(f"logits shape {logits.shape} and labels shape {labels.shape} differ")
    bad = ~np.isin(labels, (0, 1)) & ~np.isnan(labels)
    if np.any(bad):
        raise DomainError(f"labels must be 0 or 1; found {float(labels[bad].ravel()[0])!r}",
                          value_dependent=True)
    one = logits.dtype.type(1)
    positive = labels == 1
    z = np.where(positive, -logits, logits)
    with np.errstate(invalid="ignore", over="ignore"):
        inner = np.where(np.abs(z) >= 1, np.zeros_like(z), z)     # no inf in the unused branch; NaN kept
        value = np.where(z <= -1, np.zeros_like(z), np.where(z >= 1, z, (inner + one) ** 2 / 4))
        sig = np.clip((logits + one) / 2, 0.0, 1.0)
        sig = np.where(np.isnan(logits), logits, sig)
        g = np.where(np.isnan(labels), labels, sig - labels)
        value = np.where(np.isnan(labels), labels, value)
        # rounding of z + 1 (size |z| + 1) amplified by the slope sparse_sigmoid(z)
        zsig = np.clip((z + one) / 2, 0.0, 1.0)
        scale = np.where(np.isfinite(z), (np.abs(z) + one) * zsig, np.zeros_like(z))
        # condition: the logit alone (|d value / dx| = |sparse_sigmoid(x) - y|); a label
        # of 0 or 1 is exact (not a continuous input: moved off {0, 1} it is refused)
        cond = condition(value, (g, logits))
    return reduce(value, scale, {"logits": exact(g)}, {"logits": np.ones_like(g)}, reduction, condition=cond)


def _sparsemax_rows(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sparsemax of each row, the rows shifted by their maximum ``d = z - max``, the
    threshold tau of each row on that shifted scale).

    By sorting: the support size is k = max{j : 1 + j u_j > u_1 + ... + u_j} (u the
    shifted row sorted in decreasing order), tau = (u_1 + ... + u_k - 1) / k,
    p = max(d - tau, 0). Shifting first keeps the support's entries in [-1, 0], so
    tau and p carry absolute errors of a few eps whatever the size of the logits.
    A row whose maximum is infinite takes the limit: its mass spreads evenly over
    the entries equal to that maximum (the other entries are at -inf relative to
    them). Rows holding NaN are left to the caller."""
    rows, classes = z.shape
    with np.errstate(invalid="ignore"):
        m = np.max(np.where(np.isnan(z), -np.inf, z), axis=1, keepdims=True) if classes else z[:, :1]
        d = np.where(np.isfinite(m), z - m, np.where(z == m, np.zeros_like(z), np.full_like(z, -np.inf)))
        d = np.where(np.isnan(z), np.full_like(z, -np.inf), d)
        u = -np.sort(-d, axis=1)
        cums = np.cumsum(u, axis=1)
        j = np.arange(1, classes + 1, dtype=z.dtype)
        support = 1 + j * u > cums
        k = np.maximum(support.sum(axis=1), 1)
        tau = (cums[np.arange(rows), k - 1] - 1) / k.astype(z.dtype)
        p = np.maximum(d - tau[:, None], 0)
    return p, d, tau


def multiclass_sparsemax_loss(scores: np.ndarray, labels: np.ndarray, *,
                              reduction: str = "mean") -> Evaluation:
    r"""Multiclass sparsemax loss of Martins & Astudillo (2016), for a row of scores z
    and its class y:

    .. math:: \ell = -z_y + \tfrac12 \sum_{j \in S(z)} (z_j^2 - \tau(z)^2) + \tfrac12
              = \langle p, z \rangle - z_y + \tfrac12 (1 - \|p\|^2),\quad p = \mathrm{sparsemax}(z)

    optax.losses.multiclass_sparsemax_loss
    (https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.multiclass_sparsemax_loss):
    scores (N, C), integer labels (N,) in [0, C); one loss per row. Computed on the
    row shifted by its maximum m, :math:`d = z - m` (the loss is shift-invariant):
    :math:`\ell = -d_y + \sum_j p_j d_j + \tfrac12 (1 - \|p\|^2)`, every term of which
    is O(1) except :math:`-d_y = m - z_y`. Condition: the scores, through the gradient,
    :math:`\sum_j |p_j - [j = y]|\, |z_j|`. Sums (over the C classes): the dot
    product :math:`\sum_j p_j d_j` (summands :math:`|p_j d_j|`), :math:`\|p\|^2`
    (:math:`p_j^2`, times 1/2) and tau's sum of the support's :math:`d_j`, whose
    rounding moves the loss by :math:`|\partial \ell / \partial \sum_S d_j| = |\tau|`.
    Gradient :math:`p - e_y` (exact everywhere: p is continuous, so ties and support
    changes have one gradient). Limits: a -inf score has p = 0 (gradient 0, or -1 at
    the label, where the loss is +inf); +inf scores share the mass evenly. A NaN
    score makes its row's loss and gradient NaN.
    The error scale is the magnitude of what is subtracted, :math:`1 + |m| + |z_y|`.
    """
    if scores.ndim != 2:
        raise DomainError(f"scores must have shape (N, C), got {scores.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DomainError(f"labels must be integer class indices, got dtype {labels.dtype}")
    rows, classes = scores.shape
    if labels.shape != (rows,):
        raise DomainError(f"labels must have shape ({rows},), got {labels.shape}")
    bad = (labels < 0) | (labels >= classes)
    if np.any(bad):
        raise DomainError(f"class index {labels[bad][0]} out of range [0, {classes})", value_dependent=True)
    one = scores.dtype.type(1)
    p, d, tau = _sparsemax_rows(scores)
    at = np.arange(rows)
    nan_row = np.isnan(scores).any(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        d_y = d[at, labels]
        value = -d_y + times(p, d).sum(axis=1) + (one - (p * p).sum(axis=1)) / 2
        value = np.where(nan_row, np.full_like(value, np.nan), value)
        g = p.copy()
        g[at, labels] -= one
        g = np.where(nan_row[:, None], np.full_like(g, np.nan), g)
        finite = np.where(np.isfinite(scores), scores, np.zeros_like(scores))
        top = np.where(np.isfinite(scores), scores, np.full_like(scores, -np.inf)).max(axis=1, initial=-np.inf)
        top = np.where(np.isfinite(top), np.abs(top), np.zeros_like(top))
        row_scale = one + top + np.abs(finite[at, labels])
        gscale = np.broadcast_to(row_scale[:, None], scores.shape).copy()
        cond = condition(value, (row_sum(condition(np.zeros_like(g), (g, scores))), 1.0))
        # d/d(sum_S d_j) of the loss = -tau (d tau / d sum = 1 / k, d loss / d tau = -k tau)
        support_d = times(np.where(p > 0, one, np.zeros_like(p)), np.abs(d))
        sums = math.log2(max(classes, 1)) * (np.abs(times(p, d)).sum(axis=1) + (p * p).sum(axis=1) / 2
                                             + times(np.abs(tau), support_d.sum(axis=1)))
        sums = np.where(np.isfinite(sums), sums, np.zeros_like(sums))
    return reduce(value, row_scale, {"scores": exact(g)}, {"scores": gscale}, reduction,
                  condition=cond, sums=sums)


FUNCTIONS = {"sparsemax": sparsemax_loss, "multiclass_sparsemax": multiclass_sparsemax_loss}
