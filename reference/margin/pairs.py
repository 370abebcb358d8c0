"""Margin losses of torch.nn: MarginRanking, HingeEmbedding, SoftMargin,
MultiLabelSoftMargin (here); MultiLabelMargin, MultiMargin are in ``multiclass``,
which also holds the hinge helpers."""
from __future__ import annotations

import math

import numpy as np

from .._common import DomainError, Evaluation, condition, exact, reduce, row_sum, times
from .multiclass import finite_abs, hinge, hinge_bounds, kink_scale


def _same_shapes(**arrays: np.ndarray) -> tuple[int, ...]:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise DomainError(f"shapes differ: {shapes}")
    return next(iter(shapes.values()))


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow (NaN stays NaN)."""
    return np.logaddexp(z.dtype.type(0), z)


def margin_ranking(input1: np.ndarray, input2: np.ndarray, target: np.ndarray, *,
                   margin: float = 0.0, reduction: str = "mean") -> Evaluation:
    r"""Margin ranking, :math:`\ell_n = \max(0, -y_n (x_{1n} - x_{2n}) + \text{margin})`.

    torch.nn.MarginRankingLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.MarginRankingLoss.html):
    inputs of shape (N) or (), target y of the same shape "containing 1 or -1";
    the formula is applied as written for any y. At the corner the
    subdifferential is the segment between 0 and the active gradient; within
    rounding of it either side's gradient is accepted (``kink_scale``).
    The condition counts x1, x2, the (float) target, with derivative -(x1 - x2),
    and the margin, with derivative 1, where the hinge is active.
    """
    _same_shapes(input1=input1, input2=input2, target=target)
    d = input1 - input2
    z = -target * d + margin
    value = hinge(z)
    scale = finite_abs(target * d) + abs(margin)
    g1 = hinge_bounds(z, -target)
    g2 = hinge_bounds(z, target)
    gscale = np.abs(target) * np.ones_like(d) + kink_scale(z, scale, target)
    with np.errstate(invalid="ignore", over="ignore"):
        active = np.where(z >= 0, 1.0, 0.0).astype(d.dtype)     # at the corner: the larger bound
        cond = condition(value, (times(active, np.abs(target)), input1), (times(active, np.abs(target)), input2),
                         (times(active, np.abs(d)), target), (active, np.asarray(margin, d.dtype)))
    return reduce(value, scale, {"input1": g1, "input2": g2}, {"input1": gscale, "input2": gscale}, reduction,
                  condition=cond)


def hinge_embedding(input: np.ndarray, target: np.ndarray, *, margin: float = 1.0,
                    reduction: str = "mean") -> Evaluation:
    r"""Hinge embedding, :math:`\ell_n = x_n` if :math:`y_n = 1`,
    :math:`\max(0, \text{margin} - x_n)` if :math:`y_n = -1`.

    torch.nn.HingeEmbeddingLoss (https://pytorch.org/docs/stable/generated/torch.nn.HingeEmbeddingLoss.html):
    input and target of any one shape, y "containing 1 or -1"; the formula has
    no case for any other y, so another label is refused (value-dependent).
    'mean' is over all elements. The derivative of the y = 1 branch is 1 for
    every x (it does not depend on x, so a NaN there has derivative 1); the
    y = -1 branch is a hinge: NaN at a NaN, the segment [-1, 0] at the corner
    x = margin (and either side within rounding of it: ``kink_scale``).
    JAX/optax and TF/Keras have no counterpart.
    """
    _same_shapes(input=input, target=target)
    labels = (target == 1) | (target == -1)
    if not np.all(labels):
        raise DomainError(f"hinge_embedding: target must contain 1 or -1, found "
                          f"{float(target[~labels].ravel()[0])!r}", value_dependent=True)
    positive = target == 1
    z = margin - input
    terms = np.where(positive, input, hinge(z))
    scale = np.where(positive, finite_abs(input), abs(margin) + finite_abs(input))
    lo, hi = hinge_bounds(z, -np.ones_like(input))
    one = np.ones_like(input)
    grads = {"input": (np.where(positive, one, lo), np.where(positive, one, hi))}
    gscale = np.where(positive, one, one + kink_scale(z, scale, 1.0))
    # the condition: x and the margin (derivative 1 where the hinge is active, the
    # larger bound at the corner); the labels select a branch, they are no variable
    active = np.where(positive | (z >= 0), one, 0.0 * one)
    margin_slope = np.where(positive, 0.0 * one, active)
    cond = condition(terms, (active, input), (margin_slope, np.asarray(margin, input.dtype)))
    return reduce(terms, scale, grads, {"input": gscale}, reduction, condition=cond)


def soft_margin(input: np.ndarray, target: np.ndarray, *, reduction: str = "mean") -> Evaluation:
    r"""Soft margin (logistic), :math:`\ell_i = \log(1 + \exp(-y_i x_i))`.

    torch.nn.SoftMarginLoss (https://pytorch.org/docs/stable/generated/torch.nn.SoftMarginLoss.html):
    "loss(x, y) = sum_i log(1 + exp(-y[i] x[i])) / x.nelement()", so 'mean' is
    over all elements; input and target of one shape, y "containing 1 or -1"
    (the formula is applied as written for any y, like MarginRankingLoss).
    Computed as softplus(-y x), which does not overflow: the loss of a
    confidently wrong score -y x = 100 is 100. Gradient
    :math:`-y\,\sigma(-y x)`. JAX/optax and TF/Keras have no counterpart
    (optax.losses.hinge_loss and keras.losses.Hinge are the non-smooth hinge).
    """
    _same_shapes(input=input, target=target)
    with np.errstate(invalid="ignore", over="ignore"):
        z = -target * input
        terms = _softplus(z)
        scale = finite_abs(z) + 1.0 + finite_abs(terms)
        g = -target * np.exp(-_softplus(-z))
        gscale = 2.0 * np.abs(target) * np.ones_like(input)
        # d/dy = -x sigma(-y x): |x dt/dx| = |y dt/dy| = |y x| sigma(-y x)
        cond = condition(terms, (g, input), (times(input, np.exp(-_softplus(-z))), target))
    return reduce(terms, scale, {"input": exact(g)}, {"input": gscale}, reduction, condition=cond)


def multilabel_soft_margin(input: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None = None,
                           reduction: str = "mean") -> Evaluation:
    r"""One-versus-all logistic loss, :math:`\ell_n = -\frac{1}{C}\sum_c w_c
    [y_{n,c} \log\sigma(x_{n,c}) + (1 - y_{n,c}) \log\sigma(-x_{n,c})]`.

    torch.nn.MultiLabelSoftMarginLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.MultiLabelSoftMarginLoss.html):
    input and target (N, C) (torch also takes an unbatched (C,)); weight "a
    manual rescaling weight given to each class ... a Tensor of size C"; the
    per-sample loss divides by C and 'mean' is over the N samples (so over all
    N C elements). :math:`-\log\sigma(\pm x) = \mathrm{softplus}(\mp x)`; a term
    whose coefficient (y or 1 - y) is 0 is 0 even at an infinite logit (the
    limit: x = +inf, y = 1 costs nothing). The formula is applied as written for
    soft labels. Gradients: :math:`w_c (\sigma(x) - y) / C` on x and
    :math:`w_c (\mathrm{softplus}(-x) - \mathrm{softplus}(x)) / C = -w_c x / C` on y.
    JAX/optax and TF/Keras have no counterpart with the 1/C and the class weight.
    """
    _same_shapes(input=input, target=target)
    if input.ndim not in (1, 2):
        raise DomainError(f"multilabel_soft_margin: input must have shape (C,) or (N, C), got {input.shape}")
    classes = input.shape[-1]
    w = input.dtype.type(1) if weight is None else weight
    if weight is not None and weight.shape != (classes,):
        raise DomainError(f"weight must have shape ({classes},) (one per class), got {weight.shape}")
    one = input.dtype.type(1)
    ny = one - target
    with np.errstate(invalid="ignore", over="ignore"):
        sp_neg, sp_pos = _softplus(-input), _softplus(input)
        elements = w * (times(target, sp_neg) + times(ny, sp_pos))
        terms = elements.sum(axis=-1) / classes
        size = np.abs(w) * (np.abs(target) + np.abs(ny)) * (finite_abs(input) + 1.0) + finite_abs(elements)
        scale = size.sum(axis=-1) / classes
        sig, sig_neg = np.exp(-sp_neg), np.exp(-sp_pos)         # sigma(x), sigma(-x)
        g = w * (ny * sig - target * sig_neg) / classes
        gscale = np.abs(w) * 2.0 * (np.abs(ny) + np.abs(target)) / classes
        g_target = -w * input / classes
        g_target_scale = np.abs(w) * (finite_abs(sp_neg) + finite_abs(sp_pos)) / classes
        # condition: x, y and a class weight w_c (which moves the term by |element_c| / C);
        # sums: the sum over the C classes
        parts = [(row_sum(times(np.abs(g), np.abs(input))), one), (row_sum(times(np.abs(g_target), np.abs(target))), one)]
        if weight is not None:
            parts.append((row_sum(np.abs(elements)) / classes, one))
        cond = condition(terms, *parts)
        sums = math.log2(max(classes, 1)) * row_sum(np.abs(elements)) / classes
    return reduce(terms, scale, {"input": exact(g), "target": exact(g_target)},
                  {"input": gscale, "target": g_target_scale * np.ones_like(input)}, reduction,
                  condition=cond, sums=sums)


FUNCTIONS = {
    "margin_ranking": margin_ranking,
    "hinge_embedding": hinge_embedding,
    "soft_margin": soft_margin,
    "multilabel_soft_margin": multilabel_soft_margin,
}
__all__ = list(FUNCTIONS)
