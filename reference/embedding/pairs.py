"""Embedding losses: cosine embedding (torch.nn.CosineEmbeddingLoss), cosine
similarity (keras.losses.CosineSimilarity, optax.losses.cosine_similarity /
cosine_distance), triplet margin (torch.nn.TripletMarginLoss,
optax.losses.triplet_margin_loss) and triplet margin with a distance
(torch.nn.TripletMarginWithDistanceLoss); NT-Xent (optax.losses.ntxent) is in
``contrastive``.

The mathematics has no cosine for a zero vector: cos(x, 0) = 0 / 0 is NaN here,
in the value and in the gradient. That is a value, not a refusal, because every
framework computes something there (torch adds 1e-12 to the squared norms, Keras
and torch's F.cosine_similarity floor the norms, optax divides 0 by 0): each
framework's floor is a documented policy with these knobs:

* ``sq_eps``: added to each squared norm, cos = x.y / sqrt((|x|^2 + e)(|y|^2 + e));
* ``norm_floor``: each vector divided by max(|x|, floor);
* ``shift`` (torch's pairwise distance): d(x, y) = ||x - y + shift||_p;
* ``power_eps`` (optax's triplet loss): d(x, y) = (sum |x - y|^p + eps)^(1/p).

Norms are computed as m * ||v / m|| with m = max |v_i|, so that no square
overflows or underflows in a low-precision dtype (the numpy baseline runs these
formulas in float16, where 256^2 is already inf).

The hinges max(0, z) and the swap's min(d(a, n), d(p, n)) have a step in their
gradient; a framework that rounds z may land on the other side of it when |z| is
within its rounding. The gradient scales carry that (``near_corner``): |dz| zscale / |z|.

Each term's condition counts every vector element with the term's derivative by
it (an anchor's two distances combined) and the float parameter ``margin``; the
knobs above are frameworks' constants, not inputs. Its ``sums`` are those of the
norms and dot products over the feature axis (``Cosine.sums``, ``Distance.sums``).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .._common import DomainError, Evaluation, condition, reduce, row_sum, summation_factor

Bounds = tuple[np.ndarray, np.ndarray]


def log2(m: int) -> float:
    """The depth of a sum of m summands, log2(m) (0 for m <= 1)."""
    return math.log2(max(m, 1))


def spread(derivative: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A ``condition`` part over the feature axis: sum_i |dt/dx_i| |x_i|, 0 * inf = 0."""
    d, a = np.broadcast_arrays(np.abs(derivative), np.abs(x))
    return row_sum(np.where((d == 0) | (a == 0), np.zeros_like(d), d * a))


def finite(sums: np.ndarray) -> np.ndarray:
    """A sums allowance, 0 where it is not finite (an infinite or NaN term, or an
    inactive hinge's 0 * inf): the reduction's accumulation stays finite."""
    return np.where(np.isfinite(sums), sums, 0)


def larger(bounds: Bounds) -> np.ndarray:
    """The size of a derivative for the condition: the larger bound at a kink."""
    return np.maximum(np.abs(bounds[0]), np.abs(bounds[1]))


def quiet(fn):
    """NaN and inf are values here (a zero vector's cosine, an overflow in float16):
    no floating-point warnings."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return wrapped


# -- norms, unit vectors and the cosine --------------------------------------------
def norm(v: np.ndarray, p: float = 2.0) -> np.ndarray:
    """||v||_p over the last axis, scaled by m = max |v_i|; inf where an entry is
    infinite, NaN where one is NaN."""
    a = np.abs(v)
    m = np.max(a, axis=-1, keepdims=True) if a.shape[-1] else np.zeros(a.shape[:-1] + (1,), a.dtype)
    ok = (m > 0) & np.isfinite(m)
    r = a / np.where(ok, m, 1)
    n = m[..., 0] * np.sum(r ** p, axis=-1) ** (1.0 / p)
    return np.where(np.isinf(m[..., 0]), m[..., 0], n)


@dataclass(frozen=True)
class Unit:
    """u = x / n over the last axis, n = max(sqrt(|x|^2 + sq_eps), norm_floor);
    ``projected`` is False where the floor is what divides (u = x / floor there)."""
    u: np.ndarray
    n: np.ndarray
    projected: np.ndarray
    #: S |dn/dS| / n for the sum of squares S: how a relative rounding of S moves
    #: n (1/2; less with sq_eps; 0 where the floor divides)
    share: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, sq_eps: float = 0.0, norm_floor: float = 0.0) -> "Unit":
        """Without knobs u = r / ||r||, r = x / max |x_i|: accurate even for subnormal x
        (x / ||x|| would round ||x|| on the subnormal grid); 0 / 0 = NaN for x = 0."""
        if not (sq_eps or norm_floor):
            a = np.abs(x)
            m = np.max(a, axis=-1, keepdims=True) if a.shape[-1] else np.ones(a.shape[:-1] + (1,), a.dtype)
            r = x / m
            s = np.sqrt(np.sum(r * r, axis=-1, keepdims=True))
            return cls(r / s, (m * s)[..., 0], np.ones(x.shape[:-1], bool), np.full(x.shape[:-1], 0.5, x.dtype))
        n = norm(x)
        share = np.full_like(n, 0.5)
        if sq_eps:
            squares = n * n
            n = np.sqrt(squares + sq_eps)
            share = 0.5 * squares / (squares + sq_eps)
        projected = ~(n < norm_floor)
        if norm_floor:
            n = np.where(projected, n, norm_floor)
        return cls(x / n[..., None], n, projected, np.where(projected, share, 0))

    def vjp(self, g: np.ndarray) -> np.ndarray:
        """d(sum g * u)/dx: (g - (g.u) u) / n, or g / floor where the floor divides."""
        gu = np.sum(g * self.u, axis=-1, keepdims=True)
        return np.where(self.projected[..., None], g - gu * self.u, g) / self.n[..., None]

    def vjp_scale(self, g: np.ndarray) -> np.ndarray:
        """The magnitude of what ``vjp`` adds up, elementwise."""
        gu = np.sum(np.abs(g * self.u), axis=-1, keepdims=True)
        return (np.abs(g) + gu * np.abs(self.u)) / self.n[..., None] * summation_factor(g.shape[-1])


@dataclass(frozen=True)
class Cosine:
    """cos(x, y) over the last axis, its magnitude, and its gradients and their scales;
    ``sums``: the allowance of its sums over the D features, the dot product
    (log2 D sum |u_x u_y|) and the two sums of squares (log2 D |cos| times each
    norm's ``share``)."""
    value: np.ndarray
    scale: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    dx_scale: np.ndarray
    dy_scale: np.ndarray
    sums: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, sq_eps: float = 0.0, norm_floor: float = 0.0) -> "Cosine":
        ux, uy = Unit.of(x, sq_eps, norm_floor), Unit.of(y, sq_eps, norm_floor)
        prod = ux.u * uy.u
        value = np.sum(prod, axis=-1)
        dot = np.sum(np.abs(prod), axis=-1)
        scale = dot * summation_factor(x.shape[-1])
        sums = log2(x.shape[-1]) * (dot + np.abs(value) * (ux.share + uy.share))
        return cls(value, scale, ux.vjp(uy.u), uy.vjp(ux.u), ux.vjp_scale(uy.u), uy.vjp_scale(ux.u), sums)


def _vectors(loss: str, **arrays: np.ndarray) -> tuple[int, ...]:
    """Shape checks shared by the embedding losses: the vectors have one shape,
    (N, D) or unbatched (D,); returns the batch shape (N,) or ()."""
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise DomainError(f"{loss}: the embeddings must have one shape, got {shapes}")
    shape = next(iter(shapes.values()))
    if len(shape) not in (1, 2):
        raise DomainError(f"{loss}: embeddings must have shape (N, D) or (D,), got {shape}")
    return shape[:-1]


def _hinge(z: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Bounds:
    """Bounds of the subdifferential of max(0, z) along a feature axis, given the
    bounds [lo, hi] of dz (shape z.shape + (D,)): dz where z > 0, 0 where z < 0,
    the hull of 0 and dz at the corner, NaN where z is NaN (no derivative there).
    0 where z < 0 also where dz is NaN (an infinite distance's inf / inf slope): the
    hinge is off, z = -inf stays -inf under any finite move, so the loss is constant
    there (as the binary hinges' corner_bounds, and as swap's unused distance)."""
    z = z[..., None]
    act, at = z > 0, z == 0
    glo, ghi = np.where(act, lo, 0), np.where(act, hi, 0)
    glo, ghi = np.where(at, np.minimum(lo, 0), glo), np.where(at, np.maximum(hi, 0), ghi)
    nan = np.isnan(z) | ((np.isnan(lo) | np.isnan(hi)) & ~(z < 0))
    return np.where(nan, np.nan, glo), np.where(nan, np.nan, ghi)


def near_corner(z: np.ndarray, zscale: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Gradient scale for a step of size |dz| at z = 0 (max(0, z), min(a, b) at a - b = 0):
    |dz| zscale / |z|. A framework computes z with an error of a few eps(dtype) zscale,
    so where |z| is below that it may land on either side of the corner, and both
    gradients conform; away from the corner the term only grows the tolerance by
    zscale / |z| (the conditioning of the step)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(z == 0, 0, zscale / np.abs(z))
    return np.maximum(np.abs(lo), np.abs(hi)) * ratio[..., None]


def _relu(z: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(z), z, np.maximum(z, 0))


# -- cosine embedding and cosine similarity ----------------------------------------
@quiet
def cosine_embedding(input1: np.ndarray, input2: np.ndarray, target: np.ndarray, *,
                     margin: float = 0.0, reduction: str = "mean",
                     sq_eps: float = 0.0) -> Evaluation:
    r"""Cosine embedding, :math:`\ell_n = 1 - \cos(x_{1n}, x_{2n})` if :math:`y_n = 1`,
    :math:`\max(0, \cos(x_{1n}, x_{2n}) - \text{margin})` if :math:`y_n = -1`.

    torch.nn.CosineEmbeddingLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.CosineEmbeddingLoss.html):
    x1, x2 of shape (N, D) with y of shape (N), or (D) with y of shape (); y is 1 or
    -1 and any other target is refused (value-dependent: the formula has no case
    for it), NaN included: a NaN is not a label (as for HingeEmbeddingLoss's y).
    A zero vector has no cosine: NaN. torch adds EPSILON = 1e-12 to each
    squared norm (``sq_eps``, aten/src/ATen/native/Loss.cpp cosine_embedding_loss).
    At the corner cos = margin the subdifferential is the segment between 0 and
    the gradient of the cosine. The condition counts the margin where y = -1; the
    target only selects the case.
    """
    batch = _vectors("cosine_embedding", input1=input1, input2=input2)
    if target.shape != batch:
        raise DomainError(f"cosine_embedding: target of shape {target.shape} for inputs of shape "
                          f"{input1.shape}: expected {batch}")
    bad = np.abs(target) != 1                     # NaN too: it is not a label
    if np.any(bad):
        raise DomainError(f"cosine_embedding: target must be 1 or -1, found {float(target[bad].ravel()[0])!r}",
                          value_dependent=True)
    c = Cosine.of(input1, input2, sq_eps=sq_eps)
    positive = (target == 1)[..., None]
    z = c.value - margin
    value = np.where(target == 1, 1 - c.value, _relu(z))
    scale = np.where(target == 1, 1 + c.scale, c.scale + abs(margin))
    grads, gscales = {}, {}
    for name, d, ds in (("input1", c.dx, c.dx_scale), ("input2", c.dy, c.dy_scale)):
        lo, hi = _hinge(z, d, d)
        grads[name] = (np.where(positive, -d, lo), np.where(positive, -d, hi))
        gscales[name] = ds + np.where(positive, 0, near_corner(z, c.scale + abs(margin), d, d))
    # |dl/dcos|: 1 for y = 1, the hinge's (1 at its corner) for y = -1
    slope = np.where(target == 1, 1.0, np.where(z >= 0, 1.0, 0.0))
    cond = condition(value, (slope, spread(c.dx, input1) + spread(c.dy, input2)),
                     (np.where(target == 1, 0.0, slope), np.asarray(margin, dtype=value.dtype)))
    return reduce(value, scale, grads, gscales, reduction, condition=cond, sums=finite(slope * c.sums))


FORMS = {"negative": 0.0, "distance": 1.0}


@quiet
def cosine_similarity(input: np.ndarray, target: np.ndarray, *, form: str = "negative",
                      reduction: str = "mean", norm_floor: float = 0.0) -> Evaluation:
    r"""Cosine similarity loss, :math:`\ell_n = o - \cos(x_n, y_n)` over the last axis,
    :math:`o = 0` for ``form = "negative"``, :math:`o = 1` for ``form = "distance"``.

    "negative" is keras.losses.CosineSimilarity (https://keras.io/api/losses/
    regression_losses/#cosinesimilarity-class, loss = -sum(l2_norm(y_true) *
    l2_norm(y_pred))); "distance" is optax.losses.cosine_distance
    (https://optax.readthedocs.io/en/latest/api/losses.html, 1 -
    optax.losses.cosine_similarity). Shapes (N, D) or (D,). A zero vector has
    no cosine: NaN. Keras divides by max(|x|, 1e-7) (so a zero vector gives 0, as
    its page says), torch's F.cosine_similarity by max(|x|, 1e-8): ``norm_floor``.
    """
    if form not in FORMS:
        raise DomainError(f"cosine_similarity: form must be one of {sorted(FORMS)}, got {form!r}")
    _vectors("cosine_similarity", input=input, target=target)
    c = Cosine.of(input, target, norm_floor=norm_floor)
    offset = FORMS[form]
    value = offset - c.value
    cond = condition(value, (spread(c.dx, input) + spread(c.dy, target), 1.0))
    return reduce(value, offset + c.scale, {"input": (-c.dx, -c.dx), "target": (-c.dy, -c.dy)},
                  {"input": c.dx_scale, "target": c.dy_scale}, reduction, condition=cond, sums=finite(c.sums))


# -- triplet losses -------------------------------------------------------------
@dataclass(frozen=True)
class Distance:
    """d(x, y) per row, its magnitude, and the bounds of dd/dx (dd/dy = -dd/dx for the
    p-norm; given separately for the cosine distance) with their scales, and the
    allowance of its sums over the features (``Cosine.sums``)."""
    value: np.ndarray
    scale: np.ndarray
    dx: Bounds
    dy: Bounds
    dx_scale: np.ndarray
    dy_scale: np.ndarray
    sums: np.ndarray


def p_distance(x: np.ndarray, y: np.ndarray, p: float, shift: float = 0.0, power_eps: float = 0.0) -> Distance:
    """d = ||x - y + shift||_p, or (sum |x - y|^p + power_eps)^(1/p).

    dd/dv_i = sign(v_i) (|v_i| / d)^(p - 1). Where the norm is not differentiable
    (v = 0; for p = 1 every v_i = 0) its subdifferential lies in the box [-1, 1].
    Sums: S = sum |v_i|^p moves d by d / (p (S + power_eps)) per unit, so its
    allowance is log2(D) (d / p) S / (S + power_eps) = log2(D) (d / p) (1 - power_eps / d^p)."""
    v = x - y + shift if shift else x - y
    a = np.abs(v)
    if power_eps:
        d = (np.sum(a ** p, axis=-1) + power_eps) ** (1.0 / p)
    else:
        d = norm(v, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = a / np.where(d > 0, d, 1)[..., None]
        g = np.sign(v) * (ratio ** (p - 1.0) if p != 1 else np.ones_like(v))
    kink = (v == 0) if p == 1 else (d == 0)[..., None] & ~np.isnan(v)
    if power_eps and p != 1:
        kink = np.zeros_like(kink)
    lo, hi = np.where(kink, -1.0, g), np.where(kink, 1.0, g)
    s = np.maximum(np.abs(lo), np.abs(hi)) * summation_factor(v.shape[-1])
    share = d / p
    if power_eps:
        share = share * (1 - power_eps / d ** p)
    return Distance(d, d * summation_factor(v.shape[-1]), (lo, hi), (-hi, -lo), s, s,
                    log2(v.shape[-1]) * share)


def cosine_distance(x: np.ndarray, y: np.ndarray, norm_floor: float = 0.0) -> Distance:
    """d = 1 - cos(x, y)."""
    c = Cosine.of(x, y, norm_floor=norm_floor)
    return Distance(1 - c.value, 1 + c.scale, (-c.dx, -c.dx), (-c.dy, -c.dy), c.dx_scale, c.dy_scale, c.sums)


def _add(a: Bounds, b: Bounds) -> Bounds:
    return a[0] + b[0], a[1] + b[1]


def _neg(a: Bounds) -> Bounds:
    return -a[1], -a[0]


def _pick(first: np.ndarray, tie: np.ndarray, a: Bounds, b: Bounds) -> Bounds:
    """The bounds of a where ``first``, of b elsewhere, their hull where ``tie``
    (the Clarke subdifferential of min(d_a, d_b) at a tie)."""
    f, t = first[..., None], tie[..., None]
    lo = np.where(t, np.minimum(a[0], b[0]), np.where(f, a[0], b[0]))
    hi = np.where(t, np.maximum(a[1], b[1]), np.where(f, a[1], b[1]))
    return lo, hi


def _triplet(loss: str, anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, dist,
             margin: float, swap: bool, reduction: str) -> Evaluation:
    """max(d(a, p) - d(a, n) + margin, 0); with ``swap``, d(a, n) is replaced by
    min(d(a, n), d(p, n)) (Balntas et al., the distance swap)."""
    _vectors(loss, anchor=anchor, positive=positive, negative=negative)
    ap, an = dist(anchor, positive), dist(anchor, negative)
    zeros = (np.zeros_like(anchor), np.zeros_like(anchor))
    dn, dn_scale, dn_sums = an.value, an.scale, an.sums
    d_a, d_p, d_n = an.dx, zeros, an.dy            # bounds of d(negative distance)/d(argument)
    ga_s, gp_s, gn_s = ap.dx_scale + an.dx_scale, ap.dy_scale, an.dy_scale
    if swap:
        pn = dist(positive, negative)
        first, tie = an.value < pn.value, an.value == pn.value
        dn = np.minimum(an.value, pn.value)
        dn_scale = np.where(first, an.scale, pn.scale)
        dn_sums = np.where(tie, np.maximum(an.sums, pn.sums), np.where(first, an.sums, pn.sums))
        d_a = _pick(first, tie, an.dx, zeros)
        d_p = _pick(first, tie, zeros, pn.dx)
        d_n = _pick(first, tie, an.dy, pn.dy)
        gp_s, gn_s = gp_s + pn.dx_scale, gn_s + pn.dy_scale
    z = ap.value - dn + margin
    value = _relu(z)
    scale = ap.scale + dn_scale + abs(margin)
    dz = {"anchor": _add(ap.dx, _neg(d_a)), "positive": _add(ap.dy, _neg(d_p)), "negative": _neg(d_n)}
    grads = {name: _hinge(z, *b) for name, b in dz.items()}
    active = np.where(z >= 0, 1.0, 0.0)          # |dl/dz|, 1 at the hinge's corner
    moved = sum(spread(larger(grads[name]), x) for name, x in
                (("anchor", anchor), ("positive", positive), ("negative", negative)))
    cond = condition(value, (moved, 1.0), (active, np.asarray(margin, dtype=value.dtype)))
    gscales = {"anchor": ga_s, "positive": gp_s, "negative": gn_s}
    gscales = {name: s + near_corner(z, scale, *dz[name]) for name, s in gscales.items()}
    if swap:        # the min's corner d(a, n) = d(p, n), where the hinge is active
        step = {"anchor": an.dx[0], "positive": pn.dx[0], "negative": an.dy[0] - pn.dy[0]}
        for name, g in step.items():
            gscales[name] = gscales[name] + np.where((z >= 0)[..., None], near_corner(
                an.value - pn.value, an.scale + pn.scale, g, g), 0)
    return reduce(value, scale, grads, gscales, reduction, condition=cond,
                  sums=finite(active * (ap.sums + dn_sums)))


@quiet
def triplet_margin(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, *,
                   margin: float = 1.0, p: float = 2.0, swap: bool = False, reduction: str = "mean",
                   shift: float = 0.0, power_eps: float = 0.0) -> Evaluation:
    r"""Triplet margin, :math:`\ell_n = \max(d(a_n, p_n) - d(a_n, n_n) + \text{margin}, 0)`,
    :math:`d(x, y) = \lVert x - y \rVert_p`; with ``swap``, :math:`d(a_n, n_n)` becomes
    :math:`\min(d(a_n, n_n), d(p_n, n_n))`.

    torch.nn.TripletMarginLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.TripletMarginLoss.html):
    shapes (N, D) or (D,); its distance is torch.pairwise_distance, documented as
    ||x - y + eps e||_p with eps = 1e-6
    (https://pytorch.org/docs/stable/generated/torch.nn.PairwiseDistance.html):
    ``shift``. optax.losses.triplet_margin_loss
    (https://optax.readthedocs.io/en/latest/api/losses.html) adds its eps = 1e-6
    to the sum of powers: ``power_eps``. torch documents margin > 0 and refuses
    margin <= 0; the formula holds for any margin and so does this oracle.
    """
    if p < 1:
        raise DomainError(f"triplet_margin: p must be at least 1 (a norm), got {p!r}")
    return _triplet("triplet_margin", anchor, positive, negative,
                    lambda x, y: p_distance(x, y, p, shift, power_eps), margin, swap, reduction)


DISTANCES = ("pairwise", "cosine")


@quiet
def triplet_margin_with_distance(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray, *,
                                 distance: str = "pairwise", margin: float = 1.0, swap: bool = False,
                                 reduction: str = "mean", shift: float = 0.0,
                                 norm_floor: float = 0.0) -> Evaluation:
    r"""Triplet margin with a distance function,
    :math:`\ell_n = \max(d(a_n, p_n) - d(a_n, n_n) + \text{margin}, 0)`.

    torch.nn.TripletMarginWithDistanceLoss (https://pytorch.org/docs/stable/
    generated/torch.nn.TripletMarginWithDistanceLoss.html): ``distance = "pairwise"`` is its
    default, torch.pairwise_distance, :math:`\lVert x - y \rVert_2` (torch: ``shift``
    1e-6 inside the norm); ``distance = "cosine"`` is the page's example of a user
    distance, :math:`1 - \cos(x, y)` (torch's F.cosine_similarity floors each norm
    at 1e-8: ``norm_floor``). A zero vector has no cosine distance: NaN.
    """
    if distance not in DISTANCES:
        raise DomainError(f"triplet_margin_with_distance: distance must be one of {DISTANCES}, got {distance!r}")
    if distance == "pairwise":
        def dist(x, y):
            return p_distance(x, y, 2.0, shift)
    else:
        def dist(x, y):
            return cosine_distance(x, y, norm_floor)
    return _triplet("triplet_margin_with_distance", anchor, positive, negative, dist, margin, swap, reduction)


FUNCTIONS = {"cosine_embedding": cosine_embedding, "cosine_similarity": cosine_similarity,
             "triplet_margin": triplet_margin, "triplet_margin_with_distance": triplet_margin_with_distance}
