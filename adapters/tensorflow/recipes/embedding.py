"""TensorFlow recipes of the embedding family: keras.losses.CosineSimilarity is
native; neither TF nor Keras has a cosine embedding, triplet or NT-Xent loss, so
those are composed from tf ops (the ``api`` string is the migration guide).

The composed norms are m * ||v / m|| with m = max |v_i|: no power overflows in
float16; the p-norm's derivative is written out (a custom gradient), 0 at v = 0, a
subgradient of the norm's corner. Unit vectors divide by such a norm
without that care: a zero vector gives 0 / 0 = NaN in value and gradient, as the
mathematics (no epsilon, no policy)."""
from __future__ import annotations

from typing import Any

import numpy as np

from conformance.vocab.dtypes import numpy_dtype

from ...base import Policy, Recipe, require_same_shapes
from ..ops import Params, Tensors, modules, reduce, tf

KERAS = "https://keras.io/api/losses/regression_losses/#cosinesimilarity-class"


def p_norm(v: Any, p: float) -> Any:
    """||v||_p over the last axis (see the module's docstring), a tf.custom_gradient
    with the derivative sign(v_i) (|v_i| / n)^(p - 1) written out: where an entry is
    infinite, autodiff through m * ||v / m|| would spread inf / inf over the whole
    row; the written derivative is 0 at the finite entries and inf / inf at the
    infinite one, and 0 at v = 0 (the corner's subgradient) and where the cotangent is
    0 (a distance the loss does not use, such as the one swap leaves out)."""
    tf_ = tf()

    @tf_.custom_gradient
    def norm(v: Any) -> Any:
        a = tf_.abs(v)
        m = tf_.reduce_max(a, axis=-1, keepdims=True)
        zero = tf_.equal(m, 0)
        one = tf_.ones_like(m)
        safe = tf_.where(zero | tf_.math.is_inf(m), one, m)
        s = tf_.reduce_sum(tf_.pow(a / safe, p), axis=-1, keepdims=True)
        n = tf_.where(zero, tf_.zeros_like(m), safe * tf_.pow(tf_.where(zero, one, s), 1.0 / p))
        n = tf_.squeeze(tf_.where(tf_.math.is_inf(m), m, n), -1)

        def backward(g: Any) -> Any:
            d = tf_.where(n > 0, n, tf_.ones_like(n))[..., None]
            slope = tf_.sign(v) * tf_.pow(a / d, p - 1.0)
            unused = tf_.equal(n, 0)[..., None] | tf_.equal(g, 0)[..., None]   # g = 0: a distance not used
            return tf_.where(unused, tf_.zeros_like(slope), g[..., None] * slope)

        return n, backward

    return norm(v)


def unit(x: Any) -> Any:
    """x / ||x|| over the last axis, the norm m * ||x / m||_2 with m = max |x_i| held
    constant; a zero vector is 0 / 0 = NaN, in the value and in the gradient."""
    tf_ = tf()
    m = tf_.stop_gradient(tf_.reduce_max(tf_.abs(x), axis=-1, keepdims=True))
    r = x / m
    return r / tf_.sqrt(tf_.reduce_sum(r * r, axis=-1, keepdims=True))


def cosine(x: Any, y: Any) -> Any:
    """sum(unit(x) * unit(y), -1)."""
    return tf().reduce_sum(unit(x) * unit(y), axis=-1)


def _check_vectors(**tensors: Any) -> None:
    require_same_shapes(*tensors.values())
    rank = next(iter(tensors.values())).shape.rank
    if rank not in (1, 2):
        raise ValueError(f"vectors of shape (N, D) or (D,) expected, got rank {rank}")


def _cosine_embedding(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    x1, x2, y = a["input1"], a["input2"], a["target"]
    _check_vectors(input1=x1, input2=x2)
    if tuple(y.shape) != tuple(x1.shape[:-1]):
        raise ValueError(f"target of shape {tuple(y.shape)} for inputs of shape {tuple(x1.shape)}")
    tf_.debugging.assert_equal(tf_.abs(y), tf_.ones_like(y), message="target must be 1 or -1")
    c = cosine(x1, x2)
    margin = float(p.get("margin", 0.0))
    return reduce(tf_.where(y == 1, 1.0 - c, tf_.maximum(c - margin, tf_.zeros_like(c))), r)


def _cosine_similarity(a: Tensors, p: Params, r: str) -> Any:
    """Keras's per-row loss (reduction=None) for 'none' and 'sum' ('sum' is its own
    'sum' too), reduction='sum_over_batch_size' for 'mean'; 'distance' adds 1."""
    keras = modules()[1]
    x, y = a["input"], a["target"]
    distance = p.get("form", "negative") == "distance"
    keras_reduction = {"none": None, "sum": "sum", "mean": "sum_over_batch_size"}[r]
    if distance:
        keras_reduction = None
    out = keras.losses.CosineSimilarity(axis=-1, reduction=keras_reduction, dtype=x.dtype.name)(y, x)
    return reduce(1.0 + out, r) if distance else out


def _triplet(a: Tensors, p: Params, r: str, dist: Any) -> Any:
    tf_ = tf()
    anchor, positive, negative = a["anchor"], a["positive"], a["negative"]
    _check_vectors(anchor=anchor, positive=positive, negative=negative)
    dn = dist(anchor, negative)
    if p.get("swap", False):
        dn = tf_.minimum(dn, dist(positive, negative))
    z = dist(anchor, positive) - dn + float(p.get("margin", 1.0))
    return reduce(tf_.maximum(z, tf_.zeros_like(z)), r)


def _triplet_margin(a: Tensors, p: Params, r: str) -> Any:
    degree = float(p.get("p", 2.0))
    return _triplet(a, p, r, lambda x, y: p_norm(x - y, degree))


def _triplet_with_distance(a: Tensors, p: Params, r: str) -> Any:
    if p.get("distance", "pairwise") == "cosine":
        return _triplet(a, p, r, lambda x, y: 1.0 - cosine(x, y))
    return _triplet(a, p, r, lambda x, y: p_norm(x - y, 2.0))


def _ntxent(a: Tensors, p: Params, r: str) -> Any:
    tf_ = tf()
    e, labels = a["embeddings"], a["labels"]
    if e.shape.rank != 2 or tuple(labels.shape) != tuple(e.shape[:1]):
        raise ValueError(f"embeddings (N, D) and labels (N,) expected, got {tuple(e.shape)}, {tuple(labels.shape)}")
    if r != "mean":
        raise ValueError(f"NT-Xent is a mean over positive pairs, got reduction {r!r}")
    u = unit(e)
    z = tf_.matmul(u, u, transpose_b=True) / float(p.get("temperature", 0.07))
    same = tf_.equal(labels[:, None], labels[None, :])
    pos = tf_.logical_and(same, tf_.logical_not(tf_.eye(tf_.shape(labels)[0], dtype=tf_.bool)))
    lse = tf_.reduce_logsumexp(tf_.where(same, tf_.fill(tf_.shape(z), tf_.constant(-np.inf, z.dtype)), z),
                               axis=1, keepdims=True)
    terms = tf_.nn.softplus(lse - z)
    count = tf_.reduce_sum(tf_.cast(pos, z.dtype))
    return tf_.reduce_sum(tf_.where(pos, terms, tf_.zeros_like(terms))) / count


def _keras_floor(dtype: str) -> float:
    """Keras's normalize: x * minimum(rsqrt(sum x^2), 1 / epsilon), 1 / epsilon held in
    the dtype (1e7 is inf in float16, so the floor vanishes there)."""
    with np.errstate(over="ignore"):
        return 1.0 / float(np.asarray(1.0 / 1e-7, dtype=numpy_dtype(dtype)))


_NORM = ("m * tf.reduce_sum(tf.pow(|v| / m, p), -1) ** (1 / p), m = max |v|, a tf.custom_gradient with the "
         "derivative sign(v) (|v| / d) ** (p - 1)")
_COS = ("c = tf.reduce_sum(u(x) * u(y), -1), u(x) = r / tf.sqrt(tf.reduce_sum(r * r, -1)), r = x / "
        "tf.stop_gradient(max |x|)")


RECIPES = {
    "cosine_embedding": Recipe(
        _cosine_embedding, f"composed: {_COS}; tf.where(y == 1, 1 - c, tf.maximum(c - margin, 0)), "
        "targets other than +-1 refused by tf.debugging.assert_equal (TF and Keras have no cosine embedding "
        "loss)", "composed"),
    "cosine_similarity": Recipe(
        _cosine_similarity, "keras.losses.CosineSimilarity(axis=-1, reduction=None | 'sum' | "
        "'sum_over_batch_size', dtype=<dtype>)(target, input) for 'negative'; 'distance' is 1 + its "
        f"reduction=None terms, then tf.reduce_sum / tf.reduce_mean ({KERAS})"),
    "triplet_margin": Recipe(
        _triplet_margin, f"composed: d = ||x - y||_p = {_NORM}; tf.maximum(d(a, p) - d(a, n) + margin, 0), "
        "swap: tf.minimum(d(a, n), d(p, n)) (TF and Keras have no triplet margin loss)", "composed"),
    "triplet_margin_with_distance": Recipe(
        _triplet_with_distance, f"composed: 'pairwise' d = ||x - y||_2 ({_NORM}), 'cosine' d = 1 - c, {_COS}; "
        "tf.maximum(d(a, p) - d(a, n) + margin, 0), swap: tf.minimum(d(a, n), d(p, n))", "composed"),
    "ntxent": Recipe(
        _ntxent, "composed: u = r / tf.sqrt(tf.reduce_sum(r * r, -1)), r = e / tf.stop_gradient(max |e|); z = tf.matmul(u, u, transpose_b=True) / t; per positive pair "
        "tf.nn.softplus(tf.reduce_logsumexp(z with same-label entries -inf, axis=1) - z_ij), summed / "
        "number of positive pairs (TF and Keras have no NT-Xent loss)", "composed"),
}

POLICIES = {
    "cosine_similarity": Policy(
        knobs=lambda dtype: {"norm_floor": _keras_floor(dtype)},
        citation=(f"{KERAS} ('If either y_true or y_pred is a zero vector, cosine similarity will be 0'); "
                  "keras/src/ops/nn.py _normalize: 'inv_norm = backend.math.rsqrt(square_sum)', "
                  "'inv_norm = backend.numpy.minimum(inv_norm, 1.0 / epsilon)', epsilon = "
                  "backend.epsilon() = 1e-7 (keras/src/backend/config.py '_EPSILON = 1e-7')"),
        summary="each norm floored at 1e-7 (1 / epsilon as the dtype holds it): a zero vector gives 0"),
}
