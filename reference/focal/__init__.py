"""The focal family: the binary (sigmoid) focal loss (``binary``); the categorical
focal loss and PolyLoss-1 (``softmax``)."""
from .binary import binary_focal
from .softmax import FUNCTIONS as SOFTMAX

FUNCTIONS = {"binary_focal": binary_focal, **SOFTMAX}
