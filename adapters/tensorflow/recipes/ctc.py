"""TensorFlow recipes of the ctc family: keras.losses.CTC where it applies, else
tf.nn.ctc_loss (dense labels).

Both take logits and apply log_softmax; the mapping of torch's arguments:

* keras.losses.CTC(reduction=None, dtype=<dtype>)(y_true, y_pred) knows only
  blank 0 and full-length inputs (it counts the nonzero labels of y_true as the
  target length): it is used when blank == 0, every input_length == T and the
  targets are padded (N, S), with y_true = targets zeroed beyond target_lengths and
  y_pred = log_probs batch-major (N, T, C);
* otherwise tf.nn.ctc_loss(labels=targets (N, S) zeroed beyond target_lengths
  (concatenated targets gathered into zero-padded rows), logits=log_probs (T, N, C),
  label_length=target_lengths, logit_length=input_lengths, logits_time_major=True,
  blank_index=blank);
* log_probs as free inputs: both compute CTC(log_softmax(z)); CTC(x) =
  CTC(log_softmax(x)) - sum over the input's frames of logsumexp(x[t]), which the
  recipe subtracts (0 up to rounding on normalised rows; it removes the softmax
  term from the gradient);
* 'mean': each loss / max(target_length, 1), then tf.reduce_mean; zero_infinity
  (neither API has it, composed): tf.where(target length + adjacent repeats <= input
  length, loss, 0).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...base import Policy, Recipe
from ..ops import Params, Tensors, modules, tf

TF_CTC = "https://www.tensorflow.org/api_docs/python/tf/nn/ctc_loss"
KERAS_CTC = "https://www.tensorflow.org/api_docs/python/tf/keras/losses/CTC"
#: tensorflow/python/ops/ctc_ops.py, ctc_state_log_probs:
#: log_0 = cast(log(cast(0, float64) + 1e-307), float32)
TF_LOG_0 = float(np.float32(np.log(np.float64(0.0) + 1e-307)))


def _keras_applies(a: Tensors, p: Params) -> bool:
    x, il = a["log_probs"], a["input_lengths"]
    return (int(p.get("blank", 0)) == 0 and len(x.shape) == 3 and len(a["targets"].shape) == 2
            and bool(np.all(np.asarray(il) == x.shape[0])))


def _rows(targets: Any, lengths: Any) -> Any:
    """Concatenated targets (sum(lengths),) as rows (N, max(lengths)), zero-padded."""
    t, k = np.asarray(targets), np.asarray(lengths)
    width = int(k.max(initial=0))
    out = np.zeros((k.size, width), dtype=np.int64)
    for i, (end, n) in enumerate(zip(np.cumsum(k), k)):
        out[i, :n] = t[end - n:end]
    return tf().constant(out)


def feasible(labels: Any, label_lengths: Any, input_lengths: Any) -> Any:
    """Each row's target fits its input: length + adjacent repeats <= input length."""
    tf_ = tf()
    width = labels.shape[1]
    repeats = tf_.zeros_like(label_lengths)
    if width >= 2:
        inside = tf_.range(1, width, dtype=label_lengths.dtype)[None, :] < label_lengths[:, None]
        same = tf_.equal(labels[:, 1:], labels[:, :-1])
        repeats = tf_.reduce_sum(tf_.cast(inside & same, label_lengths.dtype), axis=1)
    return label_lengths + repeats <= input_lengths


def _ctc(a: Tensors, p: Params, r: str) -> Any:
    tf_, keras = modules()
    x, targets, il, tl = a["log_probs"], a["targets"], a["input_lengths"], a["target_lengths"]
    unbatched = len(x.shape) == 2
    if unbatched:
        x, targets, il, tl = x[:, None, :], targets[None], il[None], tl[None]
    labels = _rows(targets, tl) if len(targets.shape) == 1 else targets
    # TF's documented form: "a dense, zero-padded tensor" (Keras counts the nonzero labels)
    labels = tf_.where(tf_.range(labels.shape[1], dtype=tl.dtype)[None, :] < tl[:, None], labels,
                       tf_.zeros_like(labels))
    frames = x.shape[0]
    if _keras_applies(a, p):
        losses = keras.losses.CTC(reduction=None, dtype=x.dtype.name)(labels, tf_.transpose(x, (1, 0, 2)))
    else:
        losses = tf_.nn.ctc_loss(labels=labels, logits=x, label_length=tl, logit_length=il,
                                 logits_time_major=True, blank_index=int(p.get("blank", 0)))
    inside = tf_.range(frames, dtype=il.dtype)[:, None] < il[None, :]           # (T, N)
    # frames past the input are masked before the logsumexp too (no 0 * NaN in its gradient)
    read = tf_.where(inside[..., None], x, tf_.zeros_like(x))
    lse = tf_.where(inside, tf_.reduce_logsumexp(read, axis=-1), tf_.zeros_like(x[..., 0]))
    losses = tf_.cast(losses, x.dtype) - tf_.reduce_sum(lse, axis=0)
    if p.get("zero_infinity", False):
        losses = tf_.where(feasible(labels, tl, il), losses, tf_.zeros_like(losses))
    if r == "mean":
        losses = losses / tf_.cast(tf_.maximum(tl, 1), losses.dtype)
    if unbatched:
        losses = losses[0]
    if r == "none":
        return losses
    if r == "sum":
        return tf_.reduce_sum(losses)
    if r == "mean":
        return tf_.reduce_mean(losses)
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {r!r}")


def _kind(case: Any) -> str:
    return "composed" if case.params.get("zero_infinity") else "native"


RECIPES = {
    "ctc": Recipe(
        _ctc,
        f"keras.losses.CTC(reduction=None, dtype=<dtype>) ({KERAS_CTC}) when blank == 0, every "
        "input_length == T and targets are padded (y_true = targets zeroed beyond target_lengths, "
        f"y_pred = log_probs batch-major); otherwise tf.nn.ctc_loss ({TF_CTC}) (labels = targets "
        "zeroed beyond target_lengths (concatenated ones gathered into zero-padded rows), "
        "logits = log_probs (T, N, C), label_length = target_lengths, logit_length = input_lengths, logits_time_major=True, "
        "blank_index = blank). Both apply log_softmax: the recipe subtracts the sum over the "
        "input's frames of tf.reduce_logsumexp(log_probs[t]), so the gradient is that of the "
        "log-probabilities as free inputs. 'mean': each loss / max(target_lengths, 1), then "
        "tf.reduce_mean; zero_infinity (composed): tf.where(target length + adjacent repeats <= "
        "input length, loss, 0)",
        _kind,
        modes_lacking={m: "the suite's recipe chooses between Keras's CTC and tf.nn.ctc_loss and pads the "
                          "concatenated targets from their values, in NumPy: it is not traced into a graph yet"
                       for m in ("graph", "compiled")}),
}
POLICIES = {
    "ctc": Policy(
        knobs={"final_log_zero": TF_LOG_0},
        citation=(f"{TF_CTC}; tensorflow/python/ops/ctc_ops.py (TF 2.21) ctc_state_log_probs: "
                  "'log_0 = math_ops.cast(math_ops.log(math_ops.cast(0, dtypes.float64) + 1e-307), "
                  "dtypes.float32)', final_state_log_probs = (1.0 - final_state_mask) * log_0; "
                  "the loss is read from the backward pass (log_likelihood = bwd[0, :, 0] + "
                  "cum_log_sum[0])"),
        summary="log 0 of the end states is log(1e-307) = -706.9 (float32): a path may end in any "
                "state of the zero-padded label row with weight 1e-307, so a target that cannot be "
                "aligned, or whose alignments have probability below ~1e-307, has a loss of about 707 "
                "instead of inf (or instead of its larger true value)"),
}
