"""The hinge family: binary hinge, squared hinge and perceptron (``binary``); the
per-row multi-class ones (``multiclass``)."""
from .binary import FUNCTIONS as BINARY
from .multiclass import FUNCTIONS as MULTICLASS

FUNCTIONS = {**BINARY, **MULTICLASS}
