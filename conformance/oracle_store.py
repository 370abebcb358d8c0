"""Oracle answers shared by the processes of one run.

Each framework checks a case in its own worker process, and each worker asked
the oracle again: the same float64 answer computed once per framework (four
times; CTC's lattice costs ~20 ms a case). Within ``sharing(directory)`` (the
run command opens one for the run, in a temporary directory its workers
inherit through ``ENV``) an answer that took longer than ``SHARE_SECONDS`` to
compute is written there, as a NumPy ``.npz`` of plain arrays read back without
pickle; a worker that needs it next reads it instead of computing it. Cheaper
answers are recomputed: reading a file would cost as much. The file holds
exactly the arrays the oracle returned, so a check gives the same records
whichever process computed its answer.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

import reference

ENV = "LOSS_CONFORMANCE_ORACLE_DIR"
#: an answer slower than this to compute is shared (reading one back takes ~0.5 ms)
SHARE_SECONDS = 0.002


@contextlib.contextmanager
def sharing() -> Iterator[Path]:
    """A fresh directory for the answers of this process and the workers it starts,
    removed at the end (a killed run leaves it to the temporary directory's cleaner)."""
    previous = os.environ.get(ENV)
    with tempfile.TemporaryDirectory(prefix="conformance-oracle-") as directory:
        os.environ[ENV] = directory
        try:
            yield Path(directory)
        finally:
            if previous is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous


def _path(case_id: str, dtype: str) -> Path | None:
    directory = os.environ.get(ENV)
    if not directory:
        return None
    return Path(directory) / f"{hashlib.sha1(f'{case_id}|{dtype}'.encode()).hexdigest()}.npz"


def load(case_id: str, dtype: str) -> tuple[dict[str, np.ndarray], Any] | None:
    """(arrays, (evaluation, error, value_dependent)) another process stored, or None."""
    path = _path(case_id, dtype)
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            data = {k: stored[k] for k in stored.files}
        return _decode(data)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None                     # unreadable (a full disk cut it short): compute it


def save(case_id: str, dtype: str, arrays: dict[str, np.ndarray], evaluation: Any, error: str | None,
         value_dependent: bool) -> None:
    """Store an answer for the other processes (atomically: a reader sees all or nothing)."""
    path = _path(case_id, dtype)
    if path is None or path.exists():
        return
    buffer = io.BytesIO()
    np.savez(buffer, **_encode(arrays, evaluation, error, value_dependent))
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as f:
            f.write(buffer.getvalue())
        os.replace(f.name, path)
    except OSError:
        with contextlib.suppress(OSError, NameError):
            os.unlink(f.name)            # a full disk costs the sharing, not the run


def _encode(arrays: dict[str, np.ndarray], ev: Any, error: str | None, value_dependent: bool) -> dict[str, Any]:
    out: dict[str, Any] = {f"arrays/{k}": v for k, v in arrays.items()}
    out["value_dependent"] = np.asarray(value_dependent)
    if error is not None:
        out["error"] = np.asarray(error)
    if ev is None:
        return out
    out.update({"ev/value": ev.value, "ev/scale": ev.scale, "ev/accumulation": np.asarray(ev.accumulation),
                "ev/undefined": np.asarray(ev.undefined)})
    for name, (lo, hi) in ev.grads.items():
        out[f"ev/grads/{name}/lo"] = lo
        if hi is not lo:
            out[f"ev/grads/{name}/hi"] = hi
    out.update({f"ev/grad_scales/{name}": s for name, s in ev.grad_scales.items()})
    for field in ("condition", "undefined_at"):
        if getattr(ev, field) is not None:
            out[f"ev/{field}"] = getattr(ev, field)
    return out


def _decode(data: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
    def under(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
    arrays = under("arrays/")
    error = str(data["error"]) if "error" in data else None
    if "ev/value" not in data:
        return arrays, (None, error, bool(data["value_dependent"]))
    grads = {}
    for key, lo in under("ev/grads/").items():
        name, part = key.rsplit("/", 1)
        if part == "lo":
            grads[name] = (lo, data.get(f"ev/grads/{name}/hi", lo))
    accumulation = data["ev/accumulation"]
    ev = reference.Evaluation(
        value=data["ev/value"], scale=data["ev/scale"], grads=grads, grad_scales=under("ev/grad_scales/"),
        accumulation=float(accumulation) if accumulation.ndim == 0 else accumulation,
        condition=data.get("ev/condition"), undefined=str(data["ev/undefined"]),
        undefined_at=data.get("ev/undefined_at"))
    return arrays, (ev, error, bool(data["value_dependent"]))
