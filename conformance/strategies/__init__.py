"""Hypothesis strategies generated from the catalog: one per (loss, variant, reduction).

``values`` draws arrays by role; ``cases`` builds a case from its layout
(elementwise and classification there, ``shaped`` and ``ctc`` in modules of
their own); ``shape_groups`` makes a cell's cases share shapes.
"""
from .cases import HYPOTHESIS_LOCK, cases, draw_cases, draw_pinned, without_local_constants

__all__ = ["HYPOTHESIS_LOCK", "cases", "draw_cases", "draw_pinned", "without_local_constants"]
