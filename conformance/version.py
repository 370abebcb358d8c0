"""``--version``: the suite's version and the installed frameworks', read from the
installed packages' metadata so that no framework is imported to say it."""
from __future__ import annotations

from importlib import metadata

SUITE = "loss-conformance"
#: the distributions the suite runs against, in the order they are shown
FRAMEWORKS = ("numpy", "torch", "jax", "jaxlib", "optax", "tensorflow", "keras")


def installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def text(prog: str) -> str:
    """``prog`` and the suite's version, then one 'name version' per framework."""
    lines = [f"{prog} {installed(SUITE) or '(not installed: run from a checkout)'}"]
    lines += [f"  {name:<11} {installed(name) or 'not installed'}" for name in FRAMEWORKS]
    return "\n".join(lines)
