"""``docs``: write the pages generated from the data (docs/coverage.md,
docs/findings.md), or with ``--check`` exit 1 when the committed ones are stale."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports import data_docs

from .. import frameworks
from ..vocab.atomic import write_text

ROOT = Path(__file__).resolve().parents[2]


def add(sub: argparse._SubParsersAction) -> None:
    docs = sub.add_parser("docs", help="write docs/coverage.md and docs/findings.md from the catalog and findings")
    docs.add_argument("--out", default=str(ROOT / "docs"), help="directory (default: the checkout's docs/)")
    docs.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page differs from the data")
    docs.set_defaults(func=command)


def pages() -> dict[str, str]:
    """File name -> text. Recipes are data: no framework is imported."""
    recipes = {name: frameworks.get(name).recipes for name in frameworks.names() if name != "numpy"}
    return {"coverage.md": data_docs.coverage(recipes), "findings.md": data_docs.findings_page()}


def command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    stale = []
    for name, text in pages().items():
        path = out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        out.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
        print(f"{name} written to {path.resolve()}")
    if stale:
        print(f"stale: {', '.join(stale)} (regenerate with: python -m conformance docs)", file=sys.stderr)
        return 1
    return 0
