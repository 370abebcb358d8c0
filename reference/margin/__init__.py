"""The margin family of torch.nn: ranking, hinge-embedding and soft margins
(``pairs``); the multi-class and multi-label margins (``multiclass``)."""
from .multiclass import FUNCTIONS as MULTICLASS
from .pairs import FUNCTIONS as PAIRS

FUNCTIONS = {**PAIRS, **MULTICLASS}
