"""The records as files for other tools: CSV and Parquet of the DataFrame of
reports.frame (one flat row per record; the arrays stay in results.jsonl)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from conformance.vocab.atomic import write_atomically

from .frame import COLUMNS


class ExportError(RuntimeError):
    pass


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """UTF-8 CSV with a header row; errors as numbers (``inf``), unmeasured ones empty."""
    return write_atomically(path, lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8"))


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Parquet through pyarrow (a dependency: pip install -e .), the column types kept."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"Parquet needs pyarrow, which does not import ({exc}); "
                          f"install it with: pip install -c constraints.txt pyarrow") from None
    return write_atomically(path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))


def read_csv(path: Path) -> pd.DataFrame:
    """Read an exported CSV back with the column types of reports.frame.COLUMNS."""
    text_columns = {c: str for c, t in COLUMNS.items() if t == "str"}
    frame = pd.read_csv(path, dtype=text_columns, keep_default_na=False,
                        na_values={c: [""] for c in COLUMNS if c not in text_columns})
    return frame.astype(COLUMNS)
