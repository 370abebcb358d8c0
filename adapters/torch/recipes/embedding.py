"""PyTorch recipes of the embedding family: CosineEmbedding, TripletMargin and
TripletMarginWithDistance are native in torch.nn.functional; the cosine
similarity loss and NT-Xent are composed from F.cosine_similarity (whose norms
are floored at eps = 1e-8: a policy)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...base import Policy, Recipe, require_same_shapes
from ..ops import functional as F, Params, reduce as _reduce, Tensors, torch_module

DOCS = "https://pytorch.org/docs/stable/generated/"
#: F.cosine_similarity: x1 . x2 / (max(||x1||, eps) max(||x2||, eps)), eps = 1e-8
COSINE_FLOOR = 1e-8
COSINE_CITATION = (DOCS + "torch.nn.functional.cosine_similarity.html ('similarity = x1 . x2 / "
                   "(max(||x1||_2, eps) . max(||x2||_2, eps))', eps: Default 1e-8)")
#: torch.pairwise_distance: ||x1 - x2 + eps e||_p, eps = 1e-6
PAIRWISE_SHIFT = 1e-6
PAIRWISE_CITATION = (DOCS + "torch.nn.PairwiseDistance.html ('dist(x, y) = ||x - y + eps e||_p, where e "
                     "is the vector of ones', eps: Default 1e-6); torch.nn.TripletMarginLoss.html ('a small "
                     "constant eps is added for numerical stability')")


def _cosine_distance(x: Any, y: Any) -> Any:
    return 1.0 - F().cosine_similarity(x, y, dim=-1)


def _cosine_similarity(a: Tensors, p: Params, r: str) -> Any:
    x, y = a["input"], a["target"]
    require_same_shapes(x, y)
    offset = 1.0 if p.get("form", "negative") == "distance" else 0.0
    return _reduce(offset - F().cosine_similarity(x, y, dim=-1), r)


def _triplet_with_distance(a: Tensors, p: Params, r: str) -> Any:
    distance = _cosine_distance if p.get("distance", "pairwise") == "cosine" else None
    return F().triplet_margin_with_distance_loss(
        a["anchor"], a["positive"], a["negative"], distance_function=distance,
        margin=p.get("margin", 1.0), swap=p.get("swap", False), reduction=r)


def _ntxent(a: Tensors, p: Params, r: str) -> Any:
    """Per positive pair (i, j): log(1 + exp(logsumexp_{k negative} s_ik / t - s_ij / t)), averaged
    (torch.logaddexp(0, .), not F.softplus, which turns linear above its threshold 20)."""
    torch = torch_module()
    e, labels = a["embeddings"], a["labels"]
    if e.dim() != 2 or tuple(labels.shape) != tuple(e.shape[:1]):
        raise ValueError(f"embeddings (N, D) and labels (N,) expected, got {tuple(e.shape)} and {tuple(labels.shape)}")
    if r != "mean":
        raise ValueError(f"NT-Xent is a mean over positive pairs, got reduction {r!r}")
    z = F().cosine_similarity(e[:, None, :], e[None, :, :], dim=-1) / p.get("temperature", 0.07)
    same = labels[:, None] == labels[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool, device=e.device)
    lse = torch.logsumexp(z.masked_fill(same, -torch.inf), dim=1, keepdim=True)
    a = lse - z
    terms = torch.logaddexp(torch.zeros_like(a), a)
    return torch.where(pos, terms, 0.0).sum() / pos.sum()


RECIPES = {
    "cosine_embedding": Recipe(lambda a, p, r: F().cosine_embedding_loss(
        a["input1"], a["input2"], a["target"], margin=p.get("margin", 0.0), reduction=r),
        "torch.nn.functional.cosine_embedding_loss(input1, input2, target, margin)"),
    "cosine_similarity": Recipe(
        _cosine_similarity, "composed: o - F.cosine_similarity(input, target, dim=-1) (o = 0 'negative', "
        "1 'distance'), then .sum() / .mean() (torch has no cosine similarity loss)", "composed"),
    "triplet_margin": Recipe(lambda a, p, r: F().triplet_margin_loss(
        a["anchor"], a["positive"], a["negative"], margin=p.get("margin", 1.0), p=p.get("p", 2.0),
        swap=p.get("swap", False), reduction=r),
        "torch.nn.functional.triplet_margin_loss(anchor, positive, negative, margin, p, swap) (eps default)"),
    "triplet_margin_with_distance": Recipe(
        _triplet_with_distance, "torch.nn.functional.triplet_margin_with_distance_loss(anchor, positive, "
        "negative, distance_function, margin, swap): 'pairwise' is distance_function=None "
        "(torch.pairwise_distance), 'cosine' is lambda x, y: 1 - F.cosine_similarity(x, y, dim=-1)"),
    "ntxent": Recipe(
        _ntxent, "composed: z = F.cosine_similarity(e[:, None], e[None], dim=-1) / t; per positive pair "
        "(same label, i != j) torch.logaddexp(0, torch.logsumexp(z masked to the other labels, dim=1) - z_ij), "
        "summed / number of positive pairs (torch has no NT-Xent loss)", "composed"),
}

POLICIES = {
    "cosine_embedding": Policy(
        # `constexpr float EPSILON = 1e-12;` is a float: 9.99999996e-13
        knobs={"sq_eps": float(np.float32(1e-12))},
        citation=(DOCS + "torch.nn.CosineEmbeddingLoss.html (formula without it); aten/src/ATen/native/Loss.cpp "
                  "cosine_embedding_loss: 'mag_square1 = (input1 * input1).sum(targ_dim) + EPSILON', same for "
                  "input2, 'denom = (mag_square1 * mag_square2).sqrt_()', 'constexpr float EPSILON = 1e-12'"),
        summary="1e-12 added to each squared norm: a zero vector has cosine 0, not 0/0"),
    "cosine_similarity": Policy(knobs={"norm_floor": COSINE_FLOOR}, citation=COSINE_CITATION,
                                summary="each norm floored at 1e-8 (F.cosine_similarity's eps)"),
    "triplet_margin": Policy(knobs={"shift": PAIRWISE_SHIFT}, citation=PAIRWISE_CITATION,
                             summary="d(x, y) = ||x - y + 1e-6||_p (eps added to every difference)"),
    "triplet_margin_with_distance": Policy(
        knobs={"shift": PAIRWISE_SHIFT, "norm_floor": COSINE_FLOOR},
        citation=PAIRWISE_CITATION + "; " + COSINE_CITATION,
        summary="'pairwise': ||x - y + 1e-6||_2; 'cosine': norms floored at 1e-8"),
    "ntxent": Policy(knobs={"norm_floor": COSINE_FLOOR}, citation=COSINE_CITATION,
                     summary="each norm floored at 1e-8 (F.cosine_similarity's eps)"),
}
