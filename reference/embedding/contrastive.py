"""NT-Xent, the contrastive loss of the embedding family (on the unit vectors of
``pairs``)."""
from __future__ import annotations

import numpy as np

from .._common import DomainError, Evaluation, reduce, summation_factor
from .pairs import Unit, finite, log2, quiet, spread


@quiet
def ntxent(embeddings: np.ndarray, labels: np.ndarray, *, temperature: float = 0.07,
           reduction: str = "mean", norm_floor: float = 0.0) -> Evaluation:
    r"""Normalised temperature-scaled cross-entropy (NT-Xent), the mean over the
    positive pairs (i, j), i != j, labels_i = labels_j, of

    .. math::
        \ell_{ij} = -\log \frac{e^{s_{ij}/\tau}}{e^{s_{ij}/\tau} + \sum_{k: \text{labels}_k
        \neq \text{labels}_i} e^{s_{ik}/\tau}}, \qquad s_{ik} = \cos(e_i, e_k).

    optax.losses.ntxent (https://optax.readthedocs.io/en/latest/api/losses.html;
    optax/losses/_self_supervised.py, following pytorch-metric-learning's
    NTXentLoss, https://kevinmusgrave.github.io/pytorch-metric-learning/losses/ntxent_loss/):
    embeddings (N, D), labels (N); the denominator holds the pair's own positive
    and every negative of i, not the other positives; the self-similarity is
    never used. Only the mean is defined ("averaged over all positive pairs"): a
    batch without a positive pair is a mean over nothing, 0 / 0 = NaN. A zero
    embedding has no cosine: NaN. optax clips each squared norm at
    finfo(dtype).eps (the norm at its square root): ``norm_floor``.

    With A_ij = L_i - s_ij / tau, L_i the log-sum-exp of s_ik / tau over the
    negatives of i (-inf without one), l_ij = softplus(A_ij); its derivative is
    sigmoid(A_ij) = q_ij in L_i and -q_ij in s_ij / tau, and L_i's in s_ik / tau
    is the softmax weight w_ik over the negatives.

    Condition of l_ij: every element of e_i (through s_ij and each s_ik: the vjp of
    G_i - u_j, G_i = sum_k w_ik u_k, times q_ij / tau), of e_j (through s_ij) and
    of each negative e_k (through s_ik, weighted by w_ik), and the temperature,
    tau dl_ij/dtau = q_ij (s_ij / tau - sum_k w_ik s_ik / tau). Sums: each cosine's
    dot product and sums of squares over the D features (``Cosine.sums``) carried
    by q_ij / tau (w_ik for a negative), and the sum over the negatives'
    exponentials, log2(#negatives) q_ij.
    """
    if reduction != "mean":
        raise DomainError(f"ntxent: only the mean over positive pairs is defined, got reduction {reduction!r}")
    if embeddings.ndim != 2:
        raise DomainError(f"ntxent: embeddings must have shape (N, D), got {embeddings.shape}")
    if labels.shape != embeddings.shape[:1]:
        raise DomainError(f"ntxent: labels of shape {labels.shape} for embeddings of shape "
                          f"{embeddings.shape}: expected ({embeddings.shape[0]},)")
    n, width = embeddings.shape
    unit = Unit.of(embeddings, norm_floor=norm_floor)
    u = unit.u
    z = (u @ u.T) / temperature
    same = labels[:, None] == labels[None, :]
    pos, neg = same & ~np.eye(n, dtype=bool), ~same
    zn = np.where(neg, z, -np.inf)
    m = np.max(zn, axis=1, keepdims=True) if n else np.full((0, 1), -np.inf, z.dtype)
    m = np.where(np.isinf(m), 0, m)
    lse = (m + np.log(np.sum(np.exp(zn - m), axis=1, keepdims=True)))       # (N, 1)
    a = lse - z
    ell = np.logaddexp(0, a)
    q = np.exp(a - ell)                                                      # sigmoid(a)
    w = np.where(neg, np.exp(zn - lse), 0)                                   # softmax over negatives
    g = np.where(pos, -q, 0) + np.sum(np.where(pos, q, 0), axis=1, keepdims=True) * w
    ds = g / temperature
    grad = unit.vjp((ds + ds.T) @ u)
    # scales: the logits' magnitude (log-sum-exp), the cosines' rounding (about D eps / tau)
    logits = np.where(np.isfinite(lse), np.abs(lse), 0) + np.abs(z) + summation_factor(width) / temperature
    # a positive pair's derivative is -1 + p_j in the softmax form (p_j its own share):
    # -q_ij = -1 + (1 - q_ij) is a difference of terms of size up to 1, also where q = 0
    gs = np.where(pos, 2 - q, np.abs(g)) * (1 + logits) / temperature
    gscale = unit.vjp_scale((gs + gs.T) @ np.abs(u)) * summation_factor(n)
    cond, sums = _condition(embeddings, unit, z, neg, ell, q, w, temperature)
    return reduce(ell[pos], (ell + logits)[pos], {"embeddings": (grad, grad)}, {"embeddings": gscale}, "mean",
                  condition=cond[pos], sums=sums[pos])


def _condition(e: np.ndarray, unit: Unit, z: np.ndarray, neg: np.ndarray, ell: np.ndarray, q: np.ndarray,
               w: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """The condition and the sums' allowance of every pair's l_ij, as (N, N) arrays
    (``ntxent``'s docstring)."""
    u = unit.u
    # own[i, j] = sum_d |d(L_i - s_ij) / de_i| |e_i| (times tau): the vjp of G_i - u_j at e_i
    g = w @ u
    own = spread(unit.vjp(g[None, :, :] - u[:, None, :]), e[None, :, :]).T
    # other[i, k] = sum_d |ds_ik / de_k| |e_k|: the vjp of u_i at e_k
    other = spread(unit.vjp(np.broadcast_to(u[:, None, :], (len(u),) + u.shape)), e[None, :, :])
    negatives = np.sum(np.where(neg, w * other, 0), axis=1, keepdims=True)
    mean_z = np.sum(np.where(neg, w * z, 0), axis=1, keepdims=True)
    cond = np.abs(ell) + q / temperature * (own + other + negatives) + q * np.abs(z - mean_z)
    # each cosine's sums over the features, then the sum over the negatives
    cos = z * temperature
    sigma = log2(u.shape[1]) * (np.abs(u) @ np.abs(u).T + np.abs(cos) * (unit.share[:, None] + unit.share[None, :]))
    carried = sigma + np.sum(np.where(neg, w * sigma, 0), axis=1, keepdims=True)
    count = np.sum(neg, axis=1, keepdims=True)
    sums = q / temperature * carried + q * np.log2(np.maximum(count, 1))
    return cond, finite(sums)
