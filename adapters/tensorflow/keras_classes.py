"""The ``keras`` surface of the TensorFlow adapter: each catalog loss through its
Keras loss class, ``keras.losses.<Class>(**options, reduction=..., dtype=<dtype>)
(y_true, y_pred, sample_weight=...)``, with Keras's own reductions.

The value a case gets on this surface is what the class returns: nothing is done to
Keras's output. What is done to the inputs is said per loss below (a trailing axis of
one, ``exp`` of kl_div's log-probabilities); a case the class cannot express (a
parameter or an argument Keras lacks) raises ``ModeUnsupported`` with the reason.

Reductions (Keras 3.15.1 keras/src/losses/loss.py, ``reduce_values``,
https://keras.io/api/losses/#the-loss-class): the catalog's 'none' is
``reduction=None``, 'sum' is ``'sum'``, 'mean' is ``'sum_over_batch_size'`` (the
default: the sum divided by the number of per-sample losses, ``ops.divide_no_nan``)
and 'weighted_mean' (sum w l / sum w) is ``'mean_with_sample_weight'`` (the sum divided
by ``ops.sum(sample_weight)``; without a sample weight, by the count). Keras's
``'mean'`` is not a reduction of its own: ``reduce_values`` and ``apply_mask`` treat it
exactly as ``'sum_over_batch_size'`` ("'sum_over_batch_size' and 'mean' sum the loss and
divide by the sample size", the Loss docstring), so nothing maps to it. ``reduce_values``
returns its input unreduced, whatever the reduction, when its shape is ``()`` or ``(0,)``.

The trailing axis: Keras's elementwise losses average over the LAST axis before they
reduce (``ops.mean(..., axis=-1)`` in mean_squared_error, huber, ...): the class's
per-sample loss of an (N, D) input is (N,), the mean of each row. To compare Keras's
own reduction machinery with the catalog's elementwise terms, an elementwise loss is
called on its arguments with a trailing axis of size 1 appended (an (N, D) case as
(N, D, 1), the usual Keras ``(batch, 1)`` target shape): the last-axis mean is then
over one element, and the class's None / 'sum' / 'sum_over_batch_size' act on the
catalog's terms, (N, D) for 'none'. Row losses (categorical cross-entropy, cosine
similarity, categorical hinge, categorical focal, Dice, Tversky) are called on the
case's shapes as they are.

Sample weights: a case's ``sample_weight`` array (the shape of the loss's 'none'
terms) is passed as ``sample_weight=`` unchanged. It is NOT given the trailing axis:
Keras pairs the weight with its per-sample losses, which on the trailing-axis call
already have the terms' shape, and ``squeeze_or_expand_to_same_rank`` would read a
(D, 1) weight against (D,) losses as a reason to expand the losses to (D, 1).
BCE's element ``weight`` (torch's ``weight``: w l per element, 'mean' = mean of w l)
is Keras's sample weight too, brought to the input's rank by leading axes of one (the
catalog's NumPy broadcasting; Keras's rank rule is not NumPy's).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..base import ModeUnsupported
from .ops import Params, Tensors, modules

KERAS_LOSSES = "https://keras.io/api/losses/"
SOURCE = "keras 3.15.1 keras/src/losses/losses.py"

#: the catalog's reductions -> Keras's ``reduction=``
REDUCTIONS: dict[str, str | None] = {"none": None, "sum": "sum", "mean": "sum_over_batch_size",
                                     "weighted_mean": "mean_with_sample_weight"}

#: the line ``list`` and the mode table show
SUMMARY = ("keras.losses.<Class>(options, reduction=None | 'sum' | 'sum_over_batch_size' | "
           "'mean_with_sample_weight', dtype=<dtype>)(y_true, y_pred, sample_weight), eager, GradientTape "
           "backward; elementwise losses on a trailing axis of 1")

Arrays = Mapping[str, np.ndarray]


def _no_options(p: Params, a: Tensors) -> dict[str, Any]:
    return {}


def _nothing_lacking(p: Params, a: Arrays, r: str) -> str | None:
    return None


@dataclass(frozen=True)
class Surface:
    """How one catalog loss is called as a Keras class."""
    #: keras.losses.<cls>; a function of the case's arrays where it depends on them
    cls: str | Callable[[Arrays], str]
    #: "elements": called on a trailing axis of 1 (the terms are elementwise);
    #: "rows": called as it is (Keras's per-sample loss is the catalog's term)
    terms: str
    #: the constructor's options from the catalog's parameters (and array arguments)
    options: Callable[[Params, Tensors], dict[str, Any]] = _no_options
    #: why a case cannot be expressed by the class (None: it can)
    lacking: Callable[[Params, Arrays, str], str | None] = _nothing_lacking
    #: the catalog's arguments passed as y_true, y_pred
    y_true: str = "target"
    y_pred: str = "input"
    #: array arguments consumed by ``options`` (a class weight turned Keras's alpha)
    consumed: tuple[str, ...] = ()
    #: the catalog's element weight argument that is Keras's sample_weight
    sample_weight_from: str | None = None
    #: what is done to (y_true, y_pred) before the call, and why (kl_div's exp)
    convert: Callable[[Params, Any, Any], tuple[Any, Any]] | None = None
    #: the catalog's parameter -> Keras's, as the docs table shows it
    mapping: str = ""

    def class_name(self, arrays: Arrays) -> str:
        return self.cls(arrays) if callable(self.cls) else self.cls


# -- the losses that need code --------------------------------------------------------------

def _probability_target(a: Arrays | Tensors) -> bool:
    """A floating target of the input's shape holds probabilities (NumPy arrays or TF tensors)."""
    t, x = a["target"], a["input"]
    floating = t.dtype.is_floating if hasattr(t.dtype, "is_floating") else not np.issubdtype(t.dtype, np.integer)
    return floating and tuple(t.shape) == tuple(x.shape)


def _class_axis(x: Any) -> int:
    """The catalog's classes are on axis 1 ((N, C, d1, ...)); an unbatched (C,) input has them on 0."""
    return 1 if len(x.shape) >= 2 else -1


def _ce_class(a: Arrays) -> str:
    return "CategoricalCrossentropy" if _probability_target(a) else "SparseCategoricalCrossentropy"


def _ce_options(p: Params, a: Tensors) -> dict[str, Any]:
    axis = _class_axis(a["input"])
    if _probability_target(a):
        return {"from_logits": True, "label_smoothing": float(p.get("label_smoothing", 0.0)), "axis": axis}
    # the catalog's ignore_index (default -100, torch's) is Keras's ignore_class: a row whose label
    # equals it adds 0 and is left out of 'sum_over_batch_size''s count (keras/src/losses/loss.py apply_mask)
    return {"from_logits": True, "ignore_class": int(p.get("ignore_index", -100)), "axis": axis}


def _ce_lacking(p: Params, a: Arrays, r: str) -> str | None:
    if "weight" in a:
        return ("keras.losses.CategoricalCrossentropy / SparseCategoricalCrossentropy take no class weights "
                "(class_weight is Model.fit's, a per-row sample_weight would need w[y] built from the labels and "
                "torch's 'mean' divides by their sum)")
    if not _probability_target(a) and float(p.get("label_smoothing", 0.0)) != 0.0:
        return ("keras.losses.SparseCategoricalCrossentropy has no label_smoothing (CategoricalCrossentropy "
                "has, on one-hot targets: a conversion of the labels this surface does not make)")
    return None


def _kl_convert(p: Params, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """keras.losses.KLDivergence takes probabilities ('y_true and y_pred are expected to be probability
    distributions'); the catalog's input (torch's convention) is log-probabilities: y_pred = exp(input),
    and y_true = exp(target) with log_target. The one conversion a Keras user holding log-probabilities
    makes; its rounding (exp(x) = 1 for |x| < 6e-8 in float32) is finding keras-kl-divergence-takes-probabilities."""
    tf = modules()[0]
    return (tf.exp(y_true) if p.get("log_target", False) else y_true), tf.exp(y_pred)


def _kl_terms(p: Params, a: Arrays, r: str) -> str:
    """torch's 'batchmean' of an (N, C) input is Keras's own reduction of its per-row sums: the class on (N, C)
    with 'sum_over_batch_size'. Every other reduction is of the elementwise terms (trailing axis)."""
    return "rows" if r == "batchmean" and np.ndim(a["input"]) == 2 else "elements"


def _poisson_lacking(p: Params, a: Arrays, r: str) -> str | None:
    if p.get("log_input", True):
        return ("keras.losses.Poisson takes the rate (y_pred - y_true log(y_pred + 1e-7)): the catalog's log_input=True "
                "(exp(x) - y x) has no Keras class")
    if p.get("full", False):
        return "keras.losses.Poisson has no full (log y!) term"
    return None


def _cosine_lacking(p: Params, a: Arrays, r: str) -> str | None:
    if p.get("form", "negative") == "distance":
        return ("keras.losses.CosineSimilarity is -cos(x, y); the catalog's form='distance' (1 - cos) would add 1 "
                "to Keras's output")
    return None


def _binary_focal_options(p: Params, a: Tensors) -> dict[str, Any]:
    options: dict[str, Any] = {"gamma": float(p.get("gamma", 2.0)), "from_logits": bool(p.get("from_logits", True)),
                               "label_smoothing": float(p.get("label_smoothing", 0.0))}
    if p.get("alpha") is not None:      # the catalog's alpha 'none': no class balancing
        options.update(apply_class_balancing=True, alpha=float(p["alpha"]))
    return options


def _categorical_focal_options(p: Params, a: Tensors) -> dict[str, Any]:
    # the catalog's alpha 'none' is no balancing, alpha = 1.0 (Keras's default 0.25 always scales)
    alpha = a["weight"] if "weight" in a else float(p["alpha"]) if p.get("alpha") is not None else 1.0
    return {"alpha": alpha, "gamma": float(p.get("gamma", 2.0)), "from_logits": bool(p.get("from_logits", True)),
            "label_smoothing": float(p.get("label_smoothing", 0.0))}


def _overlap_axis(x: Any) -> tuple[int, ...] | None:
    """Per sample: every axis but N; one unbatched sample: all of them (axis=None)."""
    return tuple(range(1, len(x.shape))) if len(x.shape) >= 2 else None


def _overlap_lacking(cls: str) -> Callable[[Params, Arrays, str], str | None]:
    def lacking(p: Params, a: Arrays, r: str) -> str | None:
        if float(p.get("smooth", 0.0)) != 0.0:
            return f"keras.losses.{cls} has no smoothing term (its only constant is epsilon = 1e-7)"
        if p.get("from_logits", False):
            return f"keras.losses.{cls} has no from_logits (it takes probabilities)"
        return None
    return lacking


def _bce_with_logits_lacking(p: Params, a: Arrays, r: str) -> str | None:
    if "pos_weight" in a:
        return "keras.losses.BinaryCrossentropy has no pos_weight"
    return None


# -- the table ------------------------------------------------------------------------------

SURFACES: dict[str, Surface] = {
    "l1": Surface("MeanAbsoluteError", "elements"),
    "mse": Surface("MeanSquaredError", "elements"),
    "huber": Surface("Huber", "elements", lambda p, a: {"delta": float(p.get("delta", 1.0))}, mapping="delta -> delta"),
    "log_cosh": Surface("LogCosh", "elements"),
    "mape": Surface("MeanAbsolutePercentageError", "elements"),
    "msle": Surface("MeanSquaredLogarithmicError", "elements"),
    "bce": Surface("BinaryCrossentropy", "elements", lambda p, a: {"from_logits": False},
                   sample_weight_from="weight", mapping="weight -> sample_weight"),
    "bce_with_logits": Surface("BinaryCrossentropy", "elements", lambda p, a: {"from_logits": True},
                               _bce_with_logits_lacking, sample_weight_from="weight",
                               mapping="from_logits=True; weight -> sample_weight; pos_weight: unsupported"),
    "cross_entropy": Surface(_ce_class, "rows", _ce_options, _ce_lacking,
                             mapping="class indices: SparseCategoricalCrossentropy(from_logits=True, ignore_class="
                                     "ignore_index, axis=1); probabilities: CategoricalCrossentropy(from_logits=True, "
                                     "label_smoothing, axis=1); weight: unsupported"),
    "kl_div": Surface("KLDivergence", "elements", convert=_kl_convert,
                      mapping="y_pred = exp(input) (log_target: y_true = exp(target)); 'batchmean' of (N, C): "
                              "'sum_over_batch_size' on the rows"),
    "poisson_nll": Surface("Poisson", "elements", lacking=_poisson_lacking,
                           mapping="log_input=False, full=False only (eps: Keras's fixed 1e-7, a policy)"),
    "cosine_similarity": Surface("CosineSimilarity", "rows", lambda p, a: {"axis": -1}, _cosine_lacking,
                                 mapping="form='negative' only"),
    "hinge": Surface("Hinge", "elements", mapping="labels 'signs' or 'binary': the target as it is (Keras converts "
                                                  "0/1 labels)"),
    "squared_hinge": Surface("SquaredHinge", "elements", mapping="as hinge"),
    "categorical_hinge": Surface("CategoricalHinge", "rows"),
    "binary_focal": Surface("BinaryFocalCrossentropy", "elements", _binary_focal_options,
                            mapping="gamma, from_logits, label_smoothing; alpha -> apply_class_balancing=True, alpha"),
    "categorical_focal": Surface("CategoricalFocalCrossentropy", "rows", _categorical_focal_options,
                                 consumed=("weight",),
                                 mapping="alpha = weight (class weights) or alpha or 1.0; gamma, from_logits, "
                                         "label_smoothing"),
    "dice": Surface("Dice", "rows", lambda p, a: {"axis": _overlap_axis(a["input"])}, _overlap_lacking("Dice"),
                    mapping="axis = (1, ..., ndim - 1) (None unbatched); smooth, from_logits: unsupported"),
    "tversky": Surface("Tversky", "rows",
                       lambda p, a: {"alpha": float(p.get("alpha", 0.5)), "beta": float(p.get("beta", 0.5)),
                                     "axis": _overlap_axis(a["input"])},
                       _overlap_lacking("Tversky"),
                       mapping="alpha, beta as documented (finding keras-tversky-alpha-weighs-false-negatives); "
                               "smooth, from_logits: unsupported"),
}

#: catalog losses Keras has no class for, with why (the rest: the generic reason)
LACKING: dict[str, str] = {
    "smooth_l1": "keras.losses has no smooth L1 loss (Huber(delta=beta) / beta would divide Keras's output)",
    "nll": ("keras.losses has no NLL loss on log-probabilities (SparseCategoricalCrossentropy(from_logits=True) "
            "would apply log_softmax to them again)"),
    "ctc": ("keras.losses.CTC applies log_softmax to y_pred and knows only blank 0, full-length inputs and the "
            "nonzero labels as the target length: on the catalog's log-probabilities its value is the CTC loss, "
            "but its gradient is the one through log_softmax, not of free log-probabilities (the plain recipe "
            "corrects it, which would post-process Keras), and torch's 'mean' divides by the target lengths"),
    "poly1_cross_entropy": "keras.losses has no PolyLoss",
    "generalized_kl_divergence": "keras.losses has no generalized KL divergence (KLDivergence takes probabilities)",
    "convex_kl_divergence": "keras.losses has no generalized KL divergence (KLDivergence takes probabilities)",
    "gaussian_nll": "keras.losses has no Gaussian NLL",
    "gaussian_nll_homoscedastic": "keras.losses has no Gaussian NLL",
    "perceptron": "keras.losses has no perceptron loss",
    "multiclass_hinge": "keras.losses has no hinge on integer labels (CategoricalHinge takes one-hot targets)",
    "multiclass_perceptron": "keras.losses has no perceptron loss",
}


def lacking(loss: str) -> str | None:
    """Why the keras surface cannot run ``loss`` at all (None: a class exists)."""
    if loss in SURFACES:
        return None
    return LACKING.get(loss, f"keras.losses has no class for {loss} ({KERAS_LOSSES})")


def _expanded_to_rank(w: Any, rank: int) -> Any:
    """A broadcastable weight with leading axes of one up to ``rank`` (NumPy's broadcasting, spelled out:
    Keras's squeeze_or_expand_to_same_rank reads a rank difference of one as a trailing axis)."""
    tf = modules()[0]
    return tf.reshape(w, [1] * (rank - len(w.shape)) + list(w.shape)) if len(w.shape) < rank else w


def case_lacking(loss: str, arrays: Arrays, params: Params, reduction: str) -> str | None:
    """Why this case (its arguments, parameters, reduction) cannot be expressed by the class."""
    surface = SURFACES[loss]
    reason = surface.lacking(params, arrays, reduction)
    if reason:
        return reason
    if reduction not in REDUCTIONS and not (loss == "kl_div" and reduction == "batchmean"):
        return f"Keras's losses have no reduction {reduction!r} (they have None, 'sum', 'sum_over_batch_size', " \
               f"'mean_with_sample_weight')"
    if loss == "kl_div" and reduction == "batchmean" and np.ndim(arrays["input"]) not in (1, 2):
        return "'batchmean' of an input of rank > 2 is no reduction of Keras's (its KLDivergence sums the last axis)"
    used = {surface.y_true, surface.y_pred, "sample_weight", *surface.consumed}
    if surface.sample_weight_from:
        used.add(surface.sample_weight_from)
        if surface.sample_weight_from in arrays and "sample_weight" in arrays:
            return f"both {surface.sample_weight_from} and sample_weight: Keras takes one sample_weight"
    extra = sorted(set(arrays) - used)
    if extra:
        return f"keras.losses.{surface.class_name(arrays)} takes no {', '.join(extra)}"
    return None


def function(loss: str, arrays: Arrays, params: Params, reduction: str) -> Callable[[Tensors, Params, str], Any]:
    """The loss as the Keras class computes it, ``fn(tensors, params, reduction)`` like a recipe's; raises
    ``ModeUnsupported`` for a case the class cannot express."""
    reason = lacking(loss) or case_lacking(loss, arrays, params, reduction)
    if reason:
        raise ModeUnsupported(reason)
    surface = SURFACES[loss]
    cls_name = surface.class_name(arrays)
    terms = _kl_terms(params, arrays, reduction) if loss == "kl_div" else surface.terms
    keras_reduction = "sum_over_batch_size" if reduction == "batchmean" else REDUCTIONS[reduction]

    def fn(a: Tensors, p: Params, r: str) -> Any:
        keras = modules()[1]
        y_true, y_pred = a[surface.y_true], a[surface.y_pred]
        if surface.convert is not None:
            y_true, y_pred = surface.convert(p, y_true, y_pred)
        sample_weight = a.get("sample_weight")
        if surface.sample_weight_from and surface.sample_weight_from in a:
            sample_weight = _expanded_to_rank(a[surface.sample_weight_from], len(y_pred.shape))
        if terms == "elements":         # Keras's last-axis mean over one element: its reductions act on the terms
            y_true, y_pred = y_true[..., None], y_pred[..., None]
        loss_object = getattr(keras.losses, cls_name)(**surface.options(p, a), reduction=keras_reduction,
                                                      dtype=y_pred.dtype.name)
        return loss_object(y_true, y_pred, sample_weight=sample_weight)
    return fn


def table() -> list[tuple[str, str, str, str]]:
    """(loss, Keras class, terms, parameter mapping) for the docs."""
    rows = []
    for loss, s in SURFACES.items():
        cls = s.cls if isinstance(s.cls, str) else "CategoricalCrossentropy / SparseCategoricalCrossentropy"
        rows.append((loss, cls, s.terms, s.mapping))
    return rows
