"""The embedding family: cosine embedding and similarity, triplet margins (``pairs``)
and NT-Xent (``contrastive``)."""
from .contrastive import ntxent
from .pairs import FUNCTIONS as PAIRS

FUNCTIONS = {**PAIRS, "ntxent": ntxent}
