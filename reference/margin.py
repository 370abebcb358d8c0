"""Margin losses of torch.nn: MarginRanking, HingeEmbedding, SoftMargin,
MultiLabelSoftMargin, MultiLabelMargin, MultiMargin."""
from __future__ import annotations

import numpy as np

from ._common import DomainError, Evaluation, reduce


def _same_shapes(**arrays: np.ndarray) -> tuple[int, ...]:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise DomainError(f"shapes differ: {shapes}")
    return next(iter(shapes.values()))


def _hinge_bounds(z: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subgradient bounds of max(0, z) through dz = dz/dx: dz where z > 0, 0 where
    z < 0, every value between 0 and dz at the corner z = 0, and NaN where z is NaN
    (a NaN input has no derivative; 0 there would hide the NaN)."""
    zero = np.zeros_like(dz)
    at = z == 0
    g = np.where(z > 0, dz, np.where(np.isnan(z), np.nan, zero))
    return np.where(at, np.minimum(zero, dz), g), np.where(at, np.maximum(zero, dz), g)


def margin_ranking(input1: np.ndarray, input2: np.ndarray, target: np.ndarray, *,
                   margin: float = 0.0, reduction: str = "mean") -> Evaluation:
    r"""Margin ranking, :math:`\ell_n = \max(0, -y_n (x_{1n} - x_{2n}) + \text{margin})`.

    torch.nn.MarginRankingLoss
    (https://pytorch.org/docs/stable/generated/torch.nn.MarginRankingLoss.html):
    inputs of shape (N) or (), target y of the same shape "containing 1 or -1";
    the formula is applied as written for any y. At the corner the
    subdifferential is the segment between 0 and the active gradient.
    """
    _same_shapes(input1=input1, input2=input2, target=target)
    d = input1 - input2
    z = -target * d + margin
    with np.errstate(invalid="ignore"):
        value = np.maximum(z, 0.0)
        value = np.where(np.isnan(z), z, value)
    scale = np.abs(target * d) + abs(margin)
    g1 = _hinge_bounds(z, -target)
    g2 = _hinge_bounds(z, target)
    gscale = np.abs(target) * np.ones_like(d)
    return reduce(value, scale, {"input1": g1, "input2": g2}, {"input1": gscale, "input2": gscale}, reduction)


FUNCTIONS = {"margin_ranking": margin_ranking}
