"""LLM-scale cross-entropy at full size on a GPU, one shape (the lent device's
budget allowed one): 4096 tokens x 131072 classes, logits N(0, 8), 10% ignored
tokens, label smoothing 0.1 (the `thorough` profile's `large_cuda` cell, its
second flavour), in bfloat16 and float32, torch and JAX on CUDA, each compared
with the chunked float64 oracle and with the same framework on the CPU.

    python reports/gpu/large_run.py OUT.jsonl
"""
import json
import sys
import time

import adapters
from conformance import engine, large

out = open(sys.argv[1], "w")
case = [c for c in large.cases("cross_entropy", "large_cuda", "mean", ((4096, 131072),), 0)
        if c.params["label_smoothing"] > 0][0]
for dtype in ("bfloat16", "float32"):
    for name in ("torch", "jax"):
        start = time.perf_counter()
        records = engine.check(case, adapters.get(name), "cuda", dtype)
        for r in records:
            r["seconds"] = round(time.perf_counter() - start, 1)
            out.write(json.dumps(r) + "\n")
            print(name, dtype, r["check"], r["outcome"], r.get("error_eps"), r["seconds"], flush=True)
        out.flush()
    engine.clear_oracle_cache()
