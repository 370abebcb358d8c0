"""JAX recipes of the ctc family: optax.losses.ctc_loss.

optax takes logits (B, T, K) with padding masks, batch-major, and applies
log_softmax itself; log 0 is ``log_epsilon = -1e5`` (the policy below). The
recipe maps torch's arguments onto it:

* ``logits = log_probs`` moved batch-major; ``logit_paddings[b, t] = t >= input_lengths[b]``,
  ``label_paddings[b, j] = j >= target_lengths[b]`` (concatenated targets are first
  gathered into padded rows);
* log_probs as free inputs: optax computes CTC(log_softmax(z)), and because every
  alignment reads one entry per frame, CTC(x) = CTC(log_softmax(x)) - sum over the
  input's frames of logsumexp(x[t]). The recipe subtracts that sum, so value and
  gradient are those of the loss in the log-probabilities themselves (on normalised
  rows the sum is 0 up to rounding, and the gradient loses optax's softmax term);
* 'mean': each loss / max(target_length, 1), then the batch mean;
* ``zero_infinity`` (optax has none): a loss whose target cannot be aligned (its
  length plus its adjacent repeats exceed the input length) is replaced by 0 with
  ``jnp.where`` (gradient 0): composed;
* shape buckets (``padded``): jit compiles optax's CTC scan anew for every shape
  (~0.6 s on a CPU), so valid inputs are padded as a user pads a batch of
  sequences of different lengths: the time axis to 8, 16, 32… frames and the
  target width to 4, 8, 16… labels, the padding marked by the paddings optax
  takes (the frames past ``input_lengths``, the labels past ``target_lengths``);
  the gradient is cropped back to the input's frames. An input whose lengths
  exceed its arrays (which the oracle refuses, and optax does not check) is not
  padded: what optax returns for it is what it returns for those arrays.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ...base import Policy, Recipe
from ..ops import Arrays, Params, jax_modules

OPTAX_CTC = "https://optax.readthedocs.io/en/latest/api/losses.html#optax.losses.ctc_loss"


def _padded(jnp: Any, targets: Any, lengths: Any) -> Any:
    """Concatenated targets (sum(lengths),) as rows (N, len(targets)) (static width)."""
    width = targets.shape[0]
    if width == 0:
        return jnp.zeros((lengths.shape[0], 0), targets.dtype)
    starts = jnp.cumsum(lengths) - lengths
    index = jnp.clip(starts[:, None] + jnp.arange(width)[None, :], 0, width - 1)
    return targets[index]


def feasible(jnp: Any, labels: Any, label_lengths: Any, input_lengths: Any) -> Any:
    """Whether each row's target fits its input: length + adjacent repeats <= input length."""
    width = labels.shape[1]
    if width < 2:
        repeats = jnp.zeros(labels.shape[:1], label_lengths.dtype)
    else:
        inside = jnp.arange(1, width)[None, :] < label_lengths[:, None]
        repeats = jnp.sum(inside & (labels[:, 1:] == labels[:, :-1]), axis=1).astype(label_lengths.dtype)
    return label_lengths + repeats <= input_lengths


def _ctc(a: Arrays, p: Params, r: str) -> Any:
    jax, jnp, optax = jax_modules()
    x, targets, il, tl = a["log_probs"], a["targets"], a["input_lengths"], a["target_lengths"]
    unbatched = x.ndim == 2
    if unbatched:
        x, targets, il, tl = x[:, None, :], targets[None], il[None], tl[None]
    if x.ndim != 3 or il.ndim != 1 or tl.ndim != 1:
        raise ValueError(f"log_probs must be (T, N, C) or (T, C); got {a['log_probs'].shape}")
    labels = _padded(jnp, targets, tl) if targets.ndim == 1 else targets
    logits = jnp.transpose(x, (1, 0, 2))                                  # (N, T, C)
    frames = jnp.arange(logits.shape[1])[None, :] < il[:, None]           # the input's frames
    slots = jnp.arange(labels.shape[1])[None, :] < tl[:, None]
    losses = optax.losses.ctc_loss(logits, (~frames).astype(logits.dtype), labels,
                                   (~slots).astype(logits.dtype), blank_id=int(p.get("blank", 0)))
    # frames past the input are masked before logsumexp too, so that they reach
    # neither the value nor the gradient (0 * NaN) of the correction
    read = jnp.where(frames[..., None], logits, 0.0)
    losses = losses - jnp.sum(jnp.where(frames, jax.nn.logsumexp(read, axis=-1), 0.0), axis=1)
    if p.get("zero_infinity", False):
        losses = jnp.where(feasible(jnp, labels, tl, il), losses, 0.0)
    if r == "mean":
        losses = losses / jnp.maximum(tl, 1).astype(losses.dtype)
    if unbatched:
        losses = losses[0]
    if r == "none":
        return losses
    if r == "sum":
        return jnp.sum(losses)
    if r == "mean":
        return jnp.mean(losses)
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {r!r}")


#: the smallest buckets (then doubling): frames, and labels (a row's width, or the
#: concatenated targets' length)
SMALLEST_FRAMES, SMALLEST_LABELS = 8, 4


def _bucket(n: int, smallest: int) -> int:
    size = smallest
    while size < n:
        size *= 2
    return size


def padded(arrays: Mapping[str, np.ndarray], params: Mapping[str, Any]
           ) -> tuple[dict[str, np.ndarray], dict[str, tuple]] | None:
    """The inputs with the time axis and the targets padded to bucket sizes, and the
    index of log_probs' own frames in its padded gradient; None where padding could
    change what optax computes (lengths beyond the arrays, an empty axis)."""
    x, targets = arrays["log_probs"], arrays["targets"]
    il, tl = np.asarray(arrays["input_lengths"]), np.asarray(arrays["target_lengths"])
    if x.ndim not in (2, 3) or targets.ndim not in (1, 2) or not x.size or not targets.size:
        return None
    frames, labels = x.shape[0], targets.shape[-1]
    concatenated = targets.ndim == 1 and x.ndim == 3        # every row's targets, one after another
    used = np.sum(tl) if concatenated else tl
    if np.any(il < 0) or np.any(il > frames) or np.any(tl < 0) or np.any(used > labels):
        return None
    t_to, s_to = _bucket(frames, SMALLEST_FRAMES), _bucket(labels, SMALLEST_LABELS)
    if (t_to, s_to) == (frames, labels):
        return None
    out = dict(arrays)
    out["log_probs"] = np.pad(x, [(0, t_to - frames)] + [(0, 0)] * (x.ndim - 1))
    out["targets"] = np.pad(targets, [(0, 0)] * (targets.ndim - 1) + [(0, s_to - labels)])
    return out, {"log_probs": (slice(0, frames),)}


RECIPES = {
    "ctc": Recipe(
        _ctc,
        f"optax.losses.ctc_loss ({OPTAX_CTC}) (logits=log_probs batch-major (N, T, C), "
        "logit_paddings = t >= input_lengths, labels = targets (concatenated ones gathered into "
        "rows), label_paddings = j >= target_lengths, blank_id=blank) minus the sum over the "
        "input's frames of jax.nn.logsumexp(log_probs[t]) (optax applies log_softmax: this makes "
        "the gradient that of the log-probabilities as free inputs); 'mean' divides each loss by "
        "max(target_lengths, 1) before jnp.mean; zero_infinity (composed): jnp.where(target "
        "length + adjacent repeats <= input length, loss, 0)",
        lambda case: "composed" if case.params.get("zero_infinity") else "native",
        static=("blank",), padded=padded),
}
POLICIES = {
    "ctc": Policy(
        knobs={"log_epsilon": -1e5},
        citation=(f"{OPTAX_CTC} ('log_epsilon: Numerically-stable approximation of log(+0)', "
                  "default -1e5); optax/losses/_classification.py ctc_loss_with_forward_probs: "
                  "logalpha_phi_init = ones * log_epsilon with [:, 0] = 0, logalpha_emit_init = "
                  "ones * log_epsilon, and the emit-to-emit transition between repeated labels "
                  "adds log_epsilon * repeat"),
        summary="log 0 is -1e5: every state but the start may begin with weight -1e5 and the skip "
                "between equal labels costs -1e5, so a target that cannot be aligned has a large "
                "finite loss (about 1e5 per violation) instead of inf, with a finite gradient"),
}
