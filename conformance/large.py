"""LLM-scale cases: cross-entropy at the shapes people train with (thousands of
tokens, vocabularies of 32k-256k), with ignored tokens and label smoothing.

Their arrays are too large to write out, so a case records how they were made
(``Case.generated``: a seeded generator per array) and ``cases.jsonl`` holds the
recipe, not millions of numbers; ``generate`` rebuilds them bit for bit.
The shapes come from the profile: ``large.shapes`` on CPU (scaled down) and
``large.shapes_cuda`` on a GPU (full size).
"""
from __future__ import annotations

import zlib


from .vocab.case import Case
from .vocab.generated import IGNORE_INDEX, generate

# (logit scale, label smoothing): moderate logits; large logits with smoothing
FLAVOURS = ((2.0, 0.0), (8.0, 0.1))


def cases(loss: str, variant: str, reduction: str, shapes: tuple[tuple[int, int], ...], seed: int) -> list[Case]:
    out = []
    for tokens, vocab in shapes:
        for scale, smoothing in FLAVOURS:
            base = zlib.crc32(f"{seed}:{loss}:{tokens}x{vocab}:{scale}".encode())
            specs = {"input": {"kind": "normal", "seed": base, "scale": scale},
                     "target": {"kind": "classes", "seed": base + 1, "classes": vocab, "ignored": 0.1,
                                "ignore_index": IGNORE_INDEX}}
            arrays = {"input": generate(specs["input"], (tokens, vocab)),
                      "target": generate(specs["target"], (tokens,))}
            params = {"ignore_index": IGNORE_INDEX, "label_smoothing": smoothing}
            out.append(Case(loss, variant, reduction, arrays, params, origin="hypothesis",
                            note=f"{tokens} tokens x {vocab} classes, logits N(0, {scale:g}), "
                                 f"10% ignored, label smoothing {smoothing:g}", generated=specs))
    return out
