"""The gamma function's logarithm and derivative in float64, for the Poisson
likelihood's log y! (reference/divergence.py): near the zeros of log Gamma a libm's
lgamma is accurate only absolutely, so there a series.
"""
from __future__ import annotations

import math

import numpy as np


#: zeta(k) - 1 for k = 2, 3, ..., 40 (mpmath, 40 digits): the series of log Gamma near 1 and 2
_ZETA_MINUS_ONE = (
    0.64493406684822643647, 0.2020569031595942854, 0.082323233711138191516, 0.036927755143369926331,
    0.017343061984449139715, 0.0083492773819228268398, 0.0040773561979443393787, 0.0020083928260822144179,
    0.00099457512781808533715, 0.0004941886041194645587, 0.00024608655330804829864, 0.00012271334757848914675,
    0.000061248135058704829259, 0.000030588236307020493552, 0.000015282259408651871733,
    7.6371976378997622736e-6, 3.8172932649998398565e-6, 1.9082127165539389257e-6, 9.5396203387279611315e-7,
    4.7693298678780646312e-7, 2.3845050272773299e-7, 1.1921992596531107307e-7, 5.9608189051259479612e-8,
    2.9803503514652280186e-8, 1.4901554828365041235e-8, 7.450711789835429492e-9, 3.7253340247884570548e-9,
    1.8626597235130490064e-9, 9.3132743241966818287e-10, 4.656629065033784073e-10, 2.328311833676505492e-10,
    1.1641550172700519776e-10, 5.8207720879027008892e-11, 2.9103850444970996869e-11, 1.4551921891041984236e-11,
    7.2759598350574810145e-12, 3.6379795473786511902e-12, 1.8189896503070659476e-12, 9.0949478402638892825e-13)
EULER_GAMMA = 0.5772156649015328606


def _lgamma(z: np.ndarray) -> np.ndarray:
    """math.lgamma elementwise, in float64 (a plain function: the reproducers inline it)."""
    return np.array([math.lgamma(v) for v in z.ravel()], dtype=np.float64).reshape(z.shape)


def _lgamma_2p(d: np.ndarray) -> np.ndarray:
    r""":math:`\log\Gamma(2 + \delta) = (1 - \gamma)\delta + \sum_{k \ge 2} (-1)^k (\zeta(k) - 1) \delta^k / k`
    for :math:`|\delta| \le 3/4` (Abramowitz & Stegun 6.1.33 with log(1 + delta) taken
    out): no cancellation, the terms fall like :math:`(3/8)^k / k`."""
    acc = np.zeros_like(d)
    for k in range(len(_ZETA_MINUS_ONE) + 1, 1, -1):      # Horner, from the highest power
        c = _ZETA_MINUS_ONE[k - 2] / k
        acc = acc * d + (c if k % 2 == 0 else -c)
    return (1.0 - EULER_GAMMA) * d + acc * d * d


def log_factorial(y: np.ndarray) -> np.ndarray:
    r""":math:`\log y! = \log\Gamma(y + 1)` of counts ``y`` (real ones too), in float64
    whatever the dtype of ``y`` and rounded to it once. It is real where
    :math:`\Gamma(y + 1) > 0`: every ``y > -1`` (a "count" just below 0 included), and
    below -1 between the poles where Gamma is positive; NaN where Gamma is negative, at
    its poles (y = -1, -2, ...) and for NaN; +inf at +inf.

    Near the zeros of log Gamma (y = 0 and 1) a libm's lgamma is accurate only
    absolutely (tens of eps of the condition, and the sum y + 1 rounds away a small
    count's digits), so there the series of ``_lgamma_2p``: for ``-1/2 <= y < 1/2``,
    :math:`\log\Gamma(2 + y) - \log(1 + y)`; for ``1/2 <= y < 7/4``, at
    :math:`\delta = y - 1` (exact); elsewhere ``math.lgamma(y + 1)`` (``y + 1`` exact
    for ``-1 <= y < -1/2``), within a few eps of the condition
    :math:`|\log y!| + |y\, \psi(y + 1)|` there."""
    a = np.asarray(y, dtype=np.float64)
    out = np.full(a.shape, np.nan)
    with np.errstate(invalid="ignore"):
        low, mid = (a >= -0.5) & (a < 0.5), (a >= 0.5) & (a < 1.75)
        z = a + 1.0
        # Gamma(z) > 0 for z > 0 and, below 0, between the poles where floor(z) is even
        positive = (z > 0) | ((z < 0) & (z != np.floor(z)) & (np.floor(z) % 2 == 0))
        rest = positive & ~low & ~mid
    out[low] = _lgamma_2p(a[low]) - np.log1p(a[low])
    out[mid] = _lgamma_2p(a[mid] - 1.0)
    out[rest] = _lgamma(z[rest])
    dtype = np.asarray(y).dtype
    return out.astype(dtype) if np.issubdtype(dtype, np.floating) else out


def digamma(x: np.ndarray) -> np.ndarray:
    r"""The digamma function :math:`\psi(x) = d \log\Gamma(x) / dx` in float64, NaN at
    its poles (0, -1, -2, ...) and for NaN: the recurrence
    :math:`\psi(x) = \psi(x + 1) - 1/x` up to ``x >= 10``, then the asymptotic series
    :math:`\log x - \tfrac{1}{2x} - \sum_k B_{2k} / (2k\, x^{2k})` to :math:`x^{-14}`
    (truncation below 1e-16 there; Abramowitz & Stegun 6.3.5 and 6.3.18); below 0 the
    reflection :math:`\psi(x) = \psi(1 - x) - \pi / \tan(\pi x)` (6.3.7)."""
    a = np.array(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        bad = np.isnan(a) | ((a <= 0) & (a == np.floor(a)))
        negative = a < 0
        a = np.where(bad, 1.0, np.where(negative, 1.0 - a, a))
        acc = np.zeros_like(a)
        while True:
            low = a < 10.0
            if not np.any(low):
                break
            acc = np.where(low, acc - 1.0 / a, acc)
            a = np.where(low, a + 1.0, a)
        r = 1.0 / (a * a)
        # B2/2, B4/4, ..., B14/14: 1/12, -1/120, 1/252, -1/240, 1/132, -691/32760, 1/12
        tail = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r * (1 / 132 - r * (691 / 32760
                                                                                             - r / 12))))))
        out = acc + np.log(a) - 0.5 / a - tail
        xs = np.asarray(x, dtype=np.float64)
        out = np.where(negative, out - math.pi / np.tan(math.pi * xs), out)
    return np.where(bad, np.nan, out)
