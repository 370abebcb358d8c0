r"""Connectionist temporal classification (torch.nn.CTCLoss), the forward-backward
recursion in log space.

For one sequence: log-probabilities :math:`x_{t,c}` for frames :math:`t < T_n` (the
input length), a target :math:`y_1 \dots y_L` (the first :math:`L` = target length
entries of its row) and a blank :math:`b`. An alignment is a path
:math:`\pi \in \{0..C-1\}^{T_n}` that collapses to :math:`y` (merge repeats, then
drop blanks), and

.. math::
    \ell_n = -\log \sum_{\pi \to y} \exp \sum_{t < T_n} x_{t, \pi_t}.

It is computed on the extended target :math:`z = (b, y_1, b, y_2, \dots, y_L, b)`:
:math:`\alpha_t(s) = x_{t,z_s} + \operatorname{lse}(\alpha_{t-1}(s), \alpha_{t-1}(s-1),
\alpha_{t-1}(s-2) [z_s \ne b, z_s \ne z_{s-2}])`, started from a virtual state 0 before
the first frame, ending in :math:`s \in \{2L - 1, 2L\}`. The gradient of
:math:`\ell_n` with respect to :math:`x_{t,c}` *as free inputs* (the formula reads
each entry once per path) is minus the posterior occupancy
:math:`-\sum_{s: z_s = c} \alpha_t(s) \beta_t(s) / P`; frames :math:`t \ge T_n` do not
enter the loss (gradient 0). An alignment needs :math:`L + r` frames, :math:`r` the
number of adjacent equal labels (a blank must separate them): with fewer,
:math:`P = 0` and :math:`\ell_n = +\infty`, whose derivative is undefined (NaN);
``zero_infinity`` replaces an infinite loss and its gradient by 0. A NaN loss has a
NaN gradient on every entry of the frames it reads.

Reductions (torch): 'none' the (N,) losses (unbatched: a scalar); 'sum' their total;
'mean' divides each loss by its target length clamped to at least 1, then averages
over the batch.

Pages: torch.nn.CTCLoss (https://pytorch.org/docs/stable/generated/torch.nn.CTCLoss.html);
optax.losses.ctc_loss (https://optax.readthedocs.io/en/latest/api/losses.html, takes
logits and applies log_softmax, ``log_epsilon = -1e5`` stands for log 0);
tf.nn.ctc_loss (https://www.tensorflow.org/api_docs/python/tf/nn/ctc_loss, takes
logits); keras.losses.CTC (https://www.tensorflow.org/api_docs/python/tf/keras/losses/CTC,
blank 0, every input full length). Graves et al. 2006,
https://www.cs.toronto.edu/~graves/icml_2006.pdf.

Policy knobs (frameworks' documented stand-ins for log 0):
* ``log_epsilon`` (optax): every state but the start may begin with weight
  ``log_epsilon`` and the skip between equal labels costs ``log_epsilon``, so an
  impossible alignment has a large finite loss;
* ``final_log_zero`` (tf.nn.ctc_loss, dense labels): a path may end in any state, a
  non-final one with weight ``final_log_zero`` (TF's ``log(1e-307)`` in float32); the
  states are those of the label row zero-padded (TF's documented "dense, zero-padded"
  labels) to the labels' width (S; for 1-D targets the longest target), so a path
  may also run on into the padding's states. A loss beyond ~707 (impossible, or
  merely improbable) is then capped near 707.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import DomainError, Evaluation, condition, reduce, summation_factor


def _lengths(name: str, a: np.ndarray, shape: tuple[int, ...], limit: int, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.shape != shape:
        raise DomainError(f"{name} must have shape {shape}, got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise DomainError(f"{name} must hold integers, got {a.dtype}")
    bad = (a < 0) | (a > limit)
    if np.any(bad):
        raise DomainError(f"{name} must lie in [0, {limit}] ({what}); found {int(a[bad].ravel()[0])}",
                          value_dependent=True)
    return a.astype(np.int64)


def _sequences(log_probs, targets, input_lengths, target_lengths, blank):
    """(log_probs as (T, N, C), per-sample labels, input lengths (N,), target
    lengths (N,), batched?) after torch's shape and value checks."""
    if log_probs.ndim not in (2, 3):
        raise DomainError(f"log_probs must be (T, N, C) or unbatched (T, C), got shape {log_probs.shape}")
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs[:, None, :]
    frames, n, classes = lp.shape
    if not 0 <= blank < classes:
        raise DomainError(f"blank must be in [0, C) = [0, {classes}), got {blank}")
    targets = np.asarray(targets)
    if not np.issubdtype(targets.dtype, np.integer):
        raise DomainError(f"targets must be class indices (integers), got {targets.dtype}")
    shape = (n,) if batched else ()
    if targets.ndim == 1:                         # concatenated form: sum(target_lengths)
        # (torch reads an unbatched target the same way: its size is the target length)
        tl = _lengths("target_lengths", target_lengths, shape, targets.shape[0], "each at most the targets' length")
        if int(tl.sum()) != targets.shape[0]:
            raise DomainError(f"1-D (concatenated or unbatched) targets: target_lengths sum to {int(tl.sum())}, "
                              f"but targets has {targets.shape[0]} entries", value_dependent=True)
        ends = np.cumsum(np.atleast_1d(tl))
        labels = [targets[e - k:e] for e, k in zip(ends, np.atleast_1d(tl))]
    elif batched and targets.ndim == 2:
        if targets.shape[0] != n:
            raise DomainError(f"targets has {targets.shape[0]} rows for a batch of {n}")
        tl = _lengths("target_lengths", target_lengths, shape, targets.shape[1], "each at most S")
        labels = [targets[i, :k] for i, k in enumerate(tl)]
    else:
        raise DomainError(f"targets of shape {targets.shape} fit neither (N, S) nor (sum(target_lengths),) "
                          f"(unbatched: (target_length,))")
    il = _lengths("input_lengths", input_lengths, shape, frames, "each at most T")
    for row in labels:
        bad = (row < 0) | (row >= classes) | (row == blank)
        if np.any(bad):
            raise DomainError(f"target labels must lie in [0, {classes}) and differ from the blank {blank}; "
                              f"found {int(row[bad][0])}", value_dependent=True)
    return lp, labels, np.atleast_1d(il), np.atleast_1d(tl), batched


def _lse3(a, b, c):
    return np.logaddexp(np.logaddexp(a, b), c)


def _shift(a, k, fill):
    """out[s] = a[s - k] (fill below k)."""
    out = np.full_like(a, fill)
    if k < a.size:
        out[k:] = a[:-k]
    return out


def _shift_back(a, k, fill):
    """out[s] = a[s + k] (fill from the end)."""
    out = np.full_like(a, fill)
    if k < a.size:
        out[:-k] = a[k:]
    return out


def _lattice(x, ext, end, log_epsilon, final_log_zero):
    """Forward-backward on one sequence's frames x (T_n, C) and extended target ext
    (blanks at even positions, labels at odd ones): (log P, posterior occupancy per
    (frame, class), posterior per (frame, state)). Paths end in state ``end`` (the
    last blank) or ``end - 1`` (the last label); states past ``end`` (TensorFlow's
    padded labels) are reached only by paths ending elsewhere.

    A virtual state 0 before the first frame starts every path (with ``log_epsilon``,
    every other state may start one at that weight); alpha[t, s] includes frame t,
    beta[t, s] is the weight of what follows frame t from state s, so
    alpha[t] + beta[t] - log P is the log posterior of being in s at t."""
    dt = x.dtype.type
    neg = dt(-np.inf)
    k = ext.size
    skip = np.full(k, neg)                       # weight of the s-2 -> s transition
    if k > 2:
        label = np.arange(2, k) % 2 == 1
        differ = ext[2:] != ext[:-2]
        penalty = neg if log_epsilon is None else dt(log_epsilon)
        skip[2:] = np.where(label & differ, dt(0.0), np.where(label, penalty, neg))
    start = np.full(k, neg if log_epsilon is None else dt(log_epsilon))
    start[0] = dt(0.0)
    final = np.full(k, neg if final_log_zero is None else dt(final_log_zero))
    final[end] = dt(0.0)
    if end > 0:
        final[end - 1] = dt(0.0)
    emit = x[:, ext]                             # (T_n, K)
    steps = emit.shape[0]
    alpha = np.empty((steps, k), dtype=x.dtype)
    prev = start
    for t in range(steps):
        prev = emit[t] + _lse3(prev, _shift(prev, 1, neg), _shift(prev, 2, neg) + skip)
        alpha[t] = prev
    log_p = np.logaddexp.reduce(prev + final)
    beta = np.empty_like(alpha)
    nxt = final
    for t in range(steps - 1, -1, -1):
        beta[t] = nxt
        ahead = emit[t] + nxt                    # in state s at frame t, then the future
        nxt = _lse3(ahead, _shift_back(ahead, 1, neg), _shift_back(ahead + skip, 2, neg))
    with np.errstate(invalid="ignore", over="ignore"):
        gamma = np.exp(alpha + beta - log_p)
    occupancy = np.zeros(x.shape, dtype=x.dtype)
    for s in range(k):
        occupancy[:, ext[s]] += gamma[:, s]
    # d log P / d(stand-in): the posterior mass of the start states, the skips and the
    # final states that carry it (alpha before the first frame is ``start``)
    d_eps, d_final = dt(0.0), dt(0.0)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        if log_epsilon is not None:
            uses = start == dt(log_epsilon)
            d_eps = np.exp(start + nxt - log_p)[uses].sum()
            pen = skip == dt(log_epsilon)
            if pen.any() and steps:
                before = np.vstack([start[None, :], alpha[:-1]])          # alpha_{t-1}(s)
                arrive = np.full_like(before, neg)                        # alpha_{t-1}(s - 2)
                arrive[:, 2:] = before[:, :-2]
                d_eps = d_eps + np.exp(arrive + skip + emit + beta - log_p)[:, pen].sum()
        if final_log_zero is not None:
            last = alpha[-1] if steps else start
            ends = final == dt(final_log_zero)
            d_final = np.exp(last + final - log_p)[ends].sum()
    return log_p, occupancy, gamma, d_eps, d_final, int(np.isfinite(final).sum())


def _finite_abs(a):
    return np.where(np.isfinite(a), np.abs(a), 0.0).astype(a.dtype)


def ctc(log_probs: np.ndarray, targets: np.ndarray, input_lengths: np.ndarray, target_lengths: np.ndarray, *,
        blank: int = 0, zero_infinity: bool = False, reduction: str = "mean",
        log_epsilon: float | None = None, final_log_zero: float | None = None) -> Evaluation:
    r"""CTC loss of torch.nn.CTCLoss(blank, reduction, zero_infinity); see the module
    docstring for the formula, the reductions and the policy knobs.

    ``scale`` of a loss: the posterior-weighted magnitude of the log-probabilities
    summed along the alignments, plus |loss|, plus one per frame (each frame's
    log-sum-exp of O(1) terms is accurate to eps absolutely, not relatively), times
    the summation factor of its frames. ``grad_scales``: (the frame's softmax +
    the posterior) x (1 + 2 x that scale): the posterior is exp of alpha + beta -
    log P, each of that magnitude, and the frameworks compute softmax x sum of
    the posteriors - posterior, so the sum's error reaches every class.

    Condition of a loss: :math:`|\ell| + \sum_{t,c} o_{t,c} |x_{t,c}|` (o the posterior
    occupancy, minus the gradient), plus, for a stand-in for log 0, its magnitude times
    the expected number of times a path uses it. Sums: log2(T_n) times that magnitude
    (each path sums its frames), log2(3) for each frame's log-sum-exp (which moves
    the loss by the posteriors of its states, 1 in all) and log2 of the number of end
    states. An infinite or NaN loss has its own size as condition (no bound), a loss
    that ``zero_infinity`` zeroes none."""
    if reduction not in ("none", "sum", "mean"):
        raise DomainError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    lp, labels, il, tl, batched = _sequences(log_probs, targets, input_lengths, target_lengths, int(blank))
    width = np.asarray(targets).shape[1] if np.ndim(targets) == 2 else int(tl.max(initial=0))
    dt = lp.dtype.type
    stand_in = log_epsilon is not None or final_log_zero is not None
    frames, n, classes = lp.shape
    losses = np.zeros(n, dtype=lp.dtype)
    scales = np.zeros(n, dtype=lp.dtype)
    grad = np.zeros(lp.shape, dtype=lp.dtype)
    gscale = np.zeros(lp.shape, dtype=lp.dtype)
    conds, sums = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.float64)
    for i in range(n):
        steps = int(il[i])
        x = lp[:steps, i, :]
        row = labels[i]
        if final_log_zero is not None:           # TensorFlow's lattice spans the zero-padded row
            row = np.concatenate([row, np.zeros(width - row.size, dtype=np.int64)])
        ext = np.full(2 * row.size + 1, int(blank), dtype=np.int64)
        ext[1::2] = row
        end = 2 * labels[i].size
        log_p, occupancy, gamma, d_eps, d_final, n_final = _lattice(x, ext, end, log_epsilon, final_log_zero)
        loss = -log_p
        finite = bool(np.isfinite(loss))
        if finite:
            g = -occupancy
            size = ((gamma * _finite_abs(x[:, ext])).sum() + abs(loss) + steps) * dt(summation_factor(steps))
            # |loss| + sum occupancy |x| + |d loss / d stand-in| |stand-in|
            along = condition(np.zeros_like(x), (occupancy, x)).sum()
            along += condition(dt(0.0), (d_eps, 0.0 if log_epsilon is None else log_epsilon),
                               (d_final, 0.0 if final_log_zero is None else final_log_zero))
            cond = abs(loss) + along
            # the path's sum over its frames (what it adds: ``along``), each frame's
            # log-sum-exp of at most 3 predecessors (moving the loss by the posterior of
            # its state: 1 per frame) and the final one over the end states
            total_gamma = gamma.sum()
            sum_part = (math.log2(max(steps, 1)) * along + math.log2(3) * total_gamma
                        + math.log2(max(n_final, 1)))
        else:                                    # +inf (impossible) or NaN: no derivative
            g = np.full(x.shape, np.nan, dtype=lp.dtype)
            size = (_finite_abs(x).max(axis=1, initial=0.0).sum() + steps) * dt(summation_factor(steps))
            cond, sum_part = abs(loss), 0.0
        # zero_infinity zeros an infinite loss; under a stand-in for log 0, the loss that
        # would be infinite without it (the option is about the loss, not the stand-in)
        if zero_infinity and (loss == np.inf or (stand_in and _lattice(x, ext, end, None, None)[0] == -np.inf)):
            loss, g, size, finite = dt(0.0), np.zeros_like(x), dt(0.0), False
            cond, sum_part = 0.0, 0.0
        losses[i], scales[i] = loss, size
        conds[i], sums[i] = cond, sum_part
        grad[:steps, i, :] = g
        if steps and finite:
            m = np.max(np.where(np.isnan(x), -np.inf, x), axis=1, keepdims=True)
            m = np.where(np.isfinite(m), m, dt(0.0))
            with np.errstate(invalid="ignore", over="ignore"):
                e = np.exp(x - m)
                soft = e / e.sum(axis=1, keepdims=True)
            soft = np.nan_to_num(soft, nan=1.0)
            gscale[:steps, i, :] = (soft + occupancy) * (dt(1.0) + dt(2.0) * size)
    if reduction == "mean":
        per = np.maximum(tl, 1).astype(lp.dtype)
        losses, scales = losses / per, scales / per
        conds, sums = conds / per, sums / per
        grad, gscale = grad / per[None, :, None], gscale / per[None, :, None]
    if not batched:
        losses, scales, grad, gscale = losses[0], scales[0], grad[:, 0, :], gscale[:, 0, :]
        conds, sums = conds[0], sums[0]
    return reduce(losses, scales, {"log_probs": (grad, grad)}, {"log_probs": gscale}, reduction,
                  condition=conds, sums=sums)


FUNCTIONS = {"ctc": ctc}
