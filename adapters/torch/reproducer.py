"""How a PyTorch reproducer builds its tensors and makes the call (reports/ writes
the script around it)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from conformance.vocab.reproducer import ScriptWriter, Spec, variable

HELPERS = '''def version():
    return f"torch {torch.__version__}"


def tensor(values, dtype, requires_grad=False):
    """As the suite builds it: floats through float64 to the dtype (exact: the values are
    already rounded to it), integers as they are; on DEVICE."""
    if values.dtype.kind == "f":
        t = torch.tensor(values, dtype=torch.float64, device=DEVICE).to(getattr(torch, dtype))
        return t.requires_grad_(requires_grad)
    return torch.tensor(values, dtype=getattr(torch, dtype), device=DEVICE)


def result(t):
    return t.detach().to(torch.float64).cpu().numpy()'''


class TorchWriter(ScriptWriter):
    framework = "torch"
    requires = "PyTorch"
    setup = "import torch"
    helpers = HELPERS
    tails = {"sum": "loss.sum()", "mean": "loss.mean()",
             "batchmean": "loss.sum() / (loss.shape[0] if loss.dim() else 1)"}
    prefixes = {"torch": "torch"}
    doc_hosts = ("pytorch.org",)
    reserved = {"torch": "torch"}

    def tensors(self, arrays: Mapping[str, np.ndarray], dtype: str, device: str, wrt: tuple[str, ...]) -> dict:
        import torch
        out = {}
        for name, a in arrays.items():
            if np.issubdtype(a.dtype, np.floating):
                t = torch.tensor(a, dtype=torch.float64, device=device).to(getattr(torch, dtype))
                out[name] = t.requires_grad_(name in wrt)
            else:
                out[name] = torch.tensor(a, dtype=torch.int64, device=device)
        return out

    def is_tensor(self, x: Any) -> bool:
        import torch
        return torch.is_tensor(x)

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype).removeprefix("torch.")

    def numpy(self, x: Any) -> np.ndarray:
        import torch
        x = x.detach().cpu()
        return (x.to(torch.float64) if x.is_floating_point() else x).numpy()

    def tail(self, x: Any, kind: str) -> Any:
        return x.sum() if kind == "sum" else x.mean() if kind == "mean" else x.sum() / (x.shape[0] if x.dim() else 1)

    def literal(self, value: Any) -> str | None:
        import torch
        return f"torch.{self.dtype_name(value)}" if isinstance(value, torch.dtype) else None

    def call_body(self, spec: Spec) -> str:
        lines = ["def compute(arrays):", *self.declarations(spec, "    ", "tensor", grad_flag=True),
                 f"    loss = {spec.call.text()}", *self.tail_lines(spec, "    ")]
        if spec.grad_of is None:
            lines.append("    return result(loss)")
        else:
            v = variable(spec.grad_of)
            lines += [f"    (grad,) = torch.autograd.grad(loss.sum(), [{v}], allow_unused=True)",
                      f"    return np.zeros({v}.shape) if grad is None else result(grad)"]
        return "\n".join(lines)

    def recipe_body(self, spec: Spec) -> str:
        grad = spec.grad_of
        body = ["", "", "def compute(arrays):",
                '    a = {n: tensor(arrays[n], DTYPE if arrays[n].dtype.kind == "f" else "int64", '
                "requires_grad=n in WRT) for n in NAMES}",
                "    loss = recipe(a, dict(PARAMS), REDUCTION)"]
        body += ["    return result(loss)"] if grad is None else [
            f"    (grad,) = torch.autograd.grad(loss.sum(), [a[{grad!r}]], allow_unused=True)",
            f"    return np.zeros(a[{grad!r}].shape) if grad is None else result(grad)"]
        return "\n".join(spec.recipe_head() + body)


WRITER = TorchWriter()
