"""Binary cross-entropy on probabilities and on logits."""
from __future__ import annotations

import numpy as np

from ._common import Evaluation, broadcast, check_same_shape, check_unit_interval, condition, exact, reduce
from ._common import times as _times


def bce(input: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None = None,
        reduction: str = "mean", log_floor: float | None = None,
        prob_clip: float | tuple[float, float] | None = None,
        grad_floor: float | None = None) -> Evaluation:
    r"""Binary cross-entropy, :math:`\ell_n = -w_n [y_n \log x_n + (1 - y_n) \log(1 - x_n)]`.

    torch.nn.BCELoss (https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html):
    input and target in [0, 1] ("the targets y should be numbers between 0 and 1"),
    ``weight`` broadcast to the input, ``mean`` a plain mean over elements.
    The mathematics: :math:`0 \log 0 = 0`, and :math:`-\log 0 = +\infty`.

    Policies (documented departures, taken as keywords):
      ``log_floor``  torch clamps each log at -100 ("BCELoss clamps its log
                     function outputs to be greater than or equal to -100").
      ``grad_floor`` torch's backward divides by max(x (1 - x), 1e-12)
                     (aten/src/ATen/native/Loss.cpp, binary_cross_entropy_backward).
      ``prob_clip``  Keras clips x to [eps, 1 - eps], eps = keras.config.epsilon() = 1e-7
                     (keras/src/backend/tensorflow/nn.py, binary_crossentropy);
                     a pair (lo, hi) gives the bounds as the dtype holds them.
                     The clip's gradient is 0 outside the interval.

    Gradient with respect to the target (the loss is linear in y):
    :math:`\partial \ell_n / \partial y_n = w_n [\log(1 - x_n) - \log x_n]`, with the
    policies' floor and clip applied to the logs (+-inf at x = 0 or 1).
    """
    check_same_shape(input, target)
    check_unit_interval("input", input)
    check_unit_interval("target", target)
    one = input.dtype.type(1)
    w = one if weight is None else broadcast("weight", weight, input.shape)
    if prob_clip is not None:
        lo, hi = prob_clip if isinstance(prob_clip, tuple) else (prob_clip, 1.0 - prob_clip)
    x = input if prob_clip is None else np.clip(input, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_x, log_1mx = np.log(x), np.log1p(-x)
        if log_floor is not None:
            log_x, log_1mx = np.maximum(log_x, log_floor), np.maximum(log_1mx, log_floor)
        pos, neg = _times(target, log_x), _times(one - target, log_1mx)
        terms = -w * (pos + neg)
        scale = np.abs(w) * (np.abs(pos) + np.abs(neg) + np.abs(target) + np.abs(one - target))
        if grad_floor is not None:
            g = w * (input - target) / np.maximum(input * (one - input), grad_floor)
        else:
            g = w * (_times(one - target, one / (one - x)) - _times(target, one / x))
        if prob_clip is not None:
            g = np.where((input < lo) | (input > hi), np.zeros_like(g), g)
        if grad_floor is not None:   # one division by the floored denominator: its own size
            gscale = np.abs(g)
        else:
            gscale = np.abs(w) * (np.abs(_times(target, one / x)) + np.abs(_times(one - target, one / (one - x))))
        g_target = w * (log_1mx - log_x)
        g_target_scale = np.abs(w) * (np.abs(log_x) + np.abs(log_1mx))
        # condition: the probability, the target, and a weight (which moves the term by |t| relatively)
        parts = [(g, input), (g_target, target)] + ([(np.abs(terms), one)] if weight is not None else [])
        cond = condition(terms, *parts)
    return reduce(terms, scale, {"input": exact(g), "target": exact(g_target)},
                  {"input": gscale, "target": g_target_scale}, reduction, condition=cond)


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)), without overflow."""
    return np.logaddexp(z.dtype.type(0), z)


def bce_with_logits(input: np.ndarray, target: np.ndarray, *, weight: np.ndarray | None = None,
                    pos_weight: np.ndarray | None = None, reduction: str = "mean") -> Evaluation:
    r"""BCE on logits, :math:`\ell_n = -w_n [p\, y_n \log\sigma(x_n) + (1 - y_n)\log(1 - \sigma(x_n))]`.

    torch.nn.BCEWithLogitsLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html):
    ``pos_weight`` broadcasts along the last (class) axis; ``weight`` to the input.
    With :math:`-\log\sigma(x) = \mathrm{softplus}(-x)` this is
    :math:`w [p y\, \mathrm{softplus}(-x) + (1 - y)\, \mathrm{softplus}(x)]`; optax's
    sigmoid_binary_cross_entropy and tf.nn.weighted_cross_entropy_with_logits
    (pos_weight) compute the same quantity.
    Gradient with respect to the target:
    :math:`\partial \ell_n / \partial y_n = w_n [p\, \mathrm{softplus}(-x_n) - \mathrm{softplus}(x_n)]`
    (:math:`-w x` without pos_weight).
    Like ``weight``, ``pos_weight`` may take any value: the formula is defined for a
    negative one, and an infinite or NaN one propagates as IEEE arithmetic does
    (inf * 0 = NaN), as an infinite ``weight`` does. torch documents no domain ("a
    weight of positive examples"); TF's weighted_cross_entropy_with_logits says its
    value "should be non-negative", as it says labels lie "between 0 and 1", and
    checks neither (the oracle does not refuse such labels either).
    """
    check_same_shape(input, target)
    one = input.dtype.type(1)
    w = one if weight is None else broadcast("weight", weight, input.shape)
    p = one if pos_weight is None else broadcast("pos_weight", pos_weight, input.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        py, ny = p * target, one - target      # an infinite pos_weight at y = 0: inf * 0 = NaN
        sp_neg, sp_pos = _softplus(-input), _softplus(input)
        terms = w * (_times(py, sp_neg) + _times(ny, sp_pos))
        # |x| sizes the rounding of max(x, 0) - x y; at an infinite logit the
        # value is a limit (0 or inf), and an infinite scale would accept anything.
        finite_x = np.where(np.isfinite(input), np.abs(input), np.zeros_like(input))
        scale = np.abs(w) * (np.abs(py) + np.abs(ny)) * (finite_x + 1.0) + _times(np.isfinite(terms), np.abs(terms))
        sig, sig_neg = np.exp(-sp_neg), np.exp(-sp_pos)  # sigma(x), sigma(-x)
        g = w * (ny * sig - py * sig_neg)
        # What the usual algorithms sum: (1 - y + p y) s(x) - p y, or autodiff of the
        # stable value formula, (1 - y) + l (s(x) - [x < 0]) with l = 1 + (p - 1) y:
        # terms of size |1 - y| + |p y| either way.
        gscale = np.abs(w) * 2.0 * (np.abs(ny) + np.abs(py))
        g_target = w * (_times(p, sp_neg) - sp_pos)
        g_target_scale = np.abs(w) * (np.abs(_times(p, sp_neg)) + sp_pos)
        # condition: the logit, the target, and the weights (a weight w moves the
        # term by |t| relatively, pos_weight p by w y softplus(-x))
        parts = [(g, input), (g_target, target)]
        parts += [(np.abs(terms), one)] if weight is not None else []
        parts += [(w * _times(target, sp_neg), p)] if pos_weight is not None else []
        cond = condition(terms, *parts)
    return reduce(terms, scale, {"input": exact(g), "target": exact(g_target)},
                  {"input": gscale, "target": g_target_scale}, reduction, condition=cond)


FUNCTIONS = {"bce": bce, "bce_with_logits": bce_with_logits}
