"""TensorFlow recipes of the divergence family.

* kl_div: keras.losses.KLDivergence / keras.losses.kl_divergence take probabilities
  (y_true, y_pred) and sum over the last axis: they get ``exp(input)`` (and
  ``exp(target)`` with log_target). A trailing axis of size 1 makes Keras's per-row
  sum the elementwise term, which gives 'none' and torch's all-element 'mean'.
  Keras clips both probabilities to [1e-7, 1] (a policy).
* poisson_nll: tf.nn.log_poisson_loss is the log_input=True case; its
  compute_full_loss adds the documented Stirling approximation of log(y!) (a
  policy); keras.losses.Poisson is log_input=False with its own fixed epsilon 1e-7
  (a policy); full=True with log_input=False adds TF's documented Stirling term to
  it (composed, so that one policy covers every case).
* generalized KL and Gaussian NLL: composed from tf ops (TF has neither). The
  Gaussian NLL composes torch.nn.GaussianNLLLoss's documented formula, the
  variance clamped to max(var, eps) (a policy: the mathematics has no clamp, and
  at var = 0 log 0 + d^2 / 0 has no finite floating-point evaluation); the
  gradient of tf.maximum is that of the clamped formula (0 below eps).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from conformance.vocab.case import Case
from conformance.vocab.dtypes import numpy_dtype

from ...base import Policy, Recipe
from ..ops import Params, Tensors, modules, reduce, refuse_if, tf

KERAS = "https://keras.io/api/losses/probabilistic_losses/"
KERAS_SOURCE = "keras 3.15.1 keras/src/losses/losses.py"


def _in_dtype(value: float, dtype: str) -> float:
    """A Python constant as Keras holds it: converted to the tensor's dtype."""
    return float(np.asarray(value, dtype=numpy_dtype(dtype)))


def _keras(cls: str, reduction: str | None, y_true: Any, y_pred: Any) -> Any:
    return getattr(modules()[1].losses, cls)(reduction=reduction, dtype=y_pred.dtype.name)(y_true, y_pred)


def _kl_div(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x, t = a["input"], a["target"]
    y_pred = tf_.exp(x)
    y_true = tf_.exp(t) if p.get("log_target", False) else t
    if r == "none":
        return modules()[1].losses.kl_divergence(y_true[..., None], y_pred[..., None])
    if r == "sum":
        return _keras("KLDivergence", "sum", y_true, y_pred)
    if r == "mean":
        return _keras("KLDivergence", "sum_over_batch_size", y_true[..., None], y_pred[..., None])
    if r == "batchmean" and x.shape.rank == 2:
        return _keras("KLDivergence", "sum_over_batch_size", y_true, y_pred)
    if r == "batchmean":
        return _keras("KLDivergence", "sum", y_true, y_pred) / (x.shape[0] if x.shape.rank else 1)
    raise ValueError(f"reduction must be 'none', 'sum', 'mean' or 'batchmean', got {r!r}")


def _kl_kind(case: Case) -> str:
    x = case.arrays["input"]
    return "composed" if case.reduction == "batchmean" and x.ndim != 2 else "native"


def _same_shape(x: Any, y: Any) -> None:
    if x.shape != y.shape:
        raise ValueError(f"input shape {x.shape} and target shape {y.shape} differ")


def _generalized(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x, t = a["input"], a["target"]
    _same_shape(x, t)
    return reduce(tf_.math.xlogy(t, t) - t * x + tf_.exp(x) - t, r)


def _stirling(y: Any) -> Any:
    """tf.nn.log_poisson_loss's full-loss term as tensorflow/python/ops/nn_impl.py computes it:
    y log y - y + 0.5 log(2 pi y), 0 where 0 <= y <= 1 (NaN for y < 0)."""
    tf_ = tf()
    zero = (y >= 0) & (y <= 1)
    safe = tf_.where(zero, tf_.ones_like(y), y)
    return tf_.where(zero, tf_.zeros_like(y),
                     safe * tf_.math.log(safe) - safe + 0.5 * tf_.math.log(2.0 * math.pi * safe))


def _poisson_nll(a: Tensors, p: Params, r: str) -> Any:
    x, y = a["input"], a["target"]
    if p.get("log_input", True):
        return reduce(tf().nn.log_poisson_loss(y, x, compute_full_loss=bool(p.get("full", False))), r)
    keras = modules()[1]
    if p.get("full", False):
        return reduce(keras.losses.poisson(y[..., None], x[..., None]) + _stirling(y), r)
    if r == "mean":
        return _keras("Poisson", "sum_over_batch_size", y, x)
    if r == "sum":
        return _keras("Poisson", "sum", y[..., None], x[..., None])
    return reduce(keras.losses.poisson(y[..., None], x[..., None]), r)


def _poisson_kind(case: Case) -> str:
    return "composed" if not case.params.get("log_input", True) and case.params.get("full", False) else "native"


def _fit(name: str, a: Any, shape: tuple[int, ...], fewer: bool) -> Any:
    """torch.nn.GaussianNLLLoss's documented shapes: equal; one dimension equal to 1;
    (var) without the last dimension, shared along it (``v[..., None]``)."""
    have = tuple(a.shape)
    if have == shape:
        return a
    if fewer and len(shape) >= 1 and have == shape[:-1]:
        return a[..., None]
    differ = [i for i, (s, u) in enumerate(zip(shape, have)) if s != u] if len(have) == len(shape) else []
    if len(differ) == 1 and have[differ[0]] == 1:
        return a
    raise ValueError(f"{name} of shape {have} does not fit the input's shape {shape}")


def _gaussian_nll(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x = a["input"]
    shape = tuple(x.shape)
    t = _fit("target", a["target"], shape, False)
    v = _fit("var", a["var"], shape, True)
    refuse_if(v < 0, "var has negative entries")
    # a tf.constant in the input's dtype: tf.cast of a Python float would round it to float32 first
    v = tf_.maximum(v, tf_.constant(float(p.get("eps", 1e-6)), dtype=x.dtype))
    terms = 0.5 * (tf_.math.log(v) + tf_.square(x - t) / v)
    if p.get("full", False):
        terms = terms + 0.5 * math.log(2.0 * math.pi)
    return reduce(terms, r)


GENERALIZED = ("composed: tf.math.xlogy(target, target) - target * input + tf.exp(input) - target "
               "(TF and Keras have no generalized KL divergence)")
GAUSSIAN = ("composed: v = tf.maximum(var, eps) (var without the last dimension: var[..., None]; "
            "a negative var is refused); 0.5 * (tf.math.log(v) + tf.square(input - target) / v) "
            "[+ 0.5 log(2 pi) if full]: torch.nn.GaussianNLLLoss's documented formula (TF and Keras have "
            "no Gaussian NLL)")

RECIPES = {
    "kl_div": Recipe(_kl_div, (
        "keras.losses.KLDivergence(reduction, dtype=<dtype>)(y_true=target, y_pred=tf.exp(input)) "
        "(log_target: y_true=tf.exp(target)); 'sum': reduction='sum'; 'batchmean' of a 2-D input: "
        "reduction='sum_over_batch_size' (Keras sums each row); 'mean' and 'none': the same on "
        "[..., None] (a trailing axis of 1 makes Keras's row sum the elementwise term; 'none' via "
        "keras.losses.kl_divergence); 'batchmean' of a 1-D input: reduction='sum' / C"), _kl_kind),
    "generalized_kl_divergence": Recipe(_generalized, GENERALIZED, "composed"),
    "convex_kl_divergence": Recipe(_generalized, GENERALIZED, "composed"),
    "poisson_nll": Recipe(_poisson_nll, (
        "log_input=True: tf.nn.log_poisson_loss(targets=target, log_input=input, compute_full_loss=full) "
        "(elementwise), then tf.reduce_sum / tf.reduce_mean; log_input=False: keras.losses.Poisson"
        "(reduction, dtype=<dtype>)(y_true=target, y_pred=input) ('mean': 'sum_over_batch_size'; 'sum' "
        "and 'none' on [..., None]: Keras averages over the last axis), whose epsilon is fixed at 1e-7 "
        "(torch's eps has no Keras counterpart); full=True with log_input=False: "
        "keras.losses.poisson(...) + where(0 <= y <= 1, 0, y log y - y + 0.5 log(2 pi y)), the Stirling term "
        "of tf.nn.log_poisson_loss(compute_full_loss=True) (composed)"),
        _poisson_kind),
    "gaussian_nll": Recipe(_gaussian_nll, GAUSSIAN, "composed"),
    "gaussian_nll_homoscedastic": Recipe(_gaussian_nll, GAUSSIAN, "composed"),
}

_GAUSSIAN_CLAMP = Policy(
    knobs={"var_clamp": True},
    citation=("https://pytorch.org/docs/stable/generated/torch.nn.GaussianNLLLoss.html ('eps (float, optional): "
              "value used to clamp var (see note below), for stability'; the loss 0.5 * (log(max(var, eps)) + "
              "(input - target)^2 / max(var, eps))), the formula this recipe composes with tf.maximum"),
    summary="var clamped to max(var, eps) with the case's eps (torch's documented formula, composed); "
            "the gradient w.r.t. var is 0 where var < eps (tf.maximum's)")

POLICIES = {
    "kl_div": Policy(
        knobs=lambda dtype: {"prob_clip": (_in_dtype(1e-7, dtype), 1.0)},
        citation=(KERAS + "#kldivergence-class ('y_true and y_pred are expected to be probability "
                  "distributions, with values between 0 and 1. They will get clipped to the [0, 1] range.'); "
                  f"{KERAS_SOURCE}, kl_divergence: 'y_true = ops.clip(y_true, backend.epsilon(), 1); "
                  "y_pred = ops.clip(y_pred, backend.epsilon(), 1)'; keras.config.epsilon() = 1e-7"),
        summary="both probabilities clipped to [1e-7, 1] (as the dtype holds 1e-7) before "
                "y_true * log(y_true / y_pred); the clip's gradient is 0 outside the interval"),
    "poisson_nll": Policy(
        knobs=lambda dtype: {"fixed_eps": _in_dtype(1e-7, dtype), "stirling": (0.0, 1.0)},
        citation=("https://www.tensorflow.org/api_docs/python/tf/nn/log_poisson_loss ('To compute an "
                  "approximation of the log factorial term, specify compute_full_loss=True to enable Stirling's "
                  "Approximation': exp(c) - z * c [+ z * log(z) - z + 0.5 * log(2 * pi * z)]; "
                  "tensorflow/python/ops/nn_impl.py adds 0 where 0 <= targets <= 1); "
                  + KERAS + "#poisson-class; " + f"{KERAS_SOURCE}, poisson: 'epsilon = ops.convert_to_tensor("
                  "backend.epsilon(), dtype=y_pred.dtype); return ops.mean(y_pred - y_true * "
                  "ops.log(y_pred + epsilon), axis=-1)'; keras.config.epsilon() = 1e-7"),
        summary="full adds the Stirling approximation z log z - z + 0.5 log(2 pi z) in place of log(z!), 0 "
                "where 0 <= z <= 1 (NaN for z < 0: log of a negative); log_input=False: Keras's fixed epsilon "
                "1e-7 (in the dtype) in log(y_pred + epsilon)"),
    "gaussian_nll": _GAUSSIAN_CLAMP,
    "gaussian_nll_homoscedastic": _GAUSSIAN_CLAMP,
}
