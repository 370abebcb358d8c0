"""(to be written) Cases of layout "ctc"."""
from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def arrays(draw, spec, settings):
    raise NotImplementedError("layout 'ctc' is not written yet")
