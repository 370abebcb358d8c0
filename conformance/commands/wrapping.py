"""Text for a terminal of a given width: lines too long are wrapped at spaces, each
continuation indented to the column where the line's last field starts (the text
after a gap of two or more spaces near its start), so a table's rows stay legible.
A word longer than the width (a URL) is kept whole rather than broken."""
from __future__ import annotations

import re
import shutil
import textwrap

#: a gap of two or more spaces before a field, within the first columns of a row
_FIELD = re.compile(r" {2,}(?=\S)")
FIELD_COLUMNS = 30


def width() -> int:
    """The terminal's width (``COLUMNS`` first), 100 when there is none."""
    return shutil.get_terminal_size((100, 24)).columns


def hanging_indent(line: str) -> int:
    starts = [m.end() for m in _FIELD.finditer(line[:FIELD_COLUMNS])]
    return max(starts) if starts else len(line) - len(line.lstrip(" ")) + 2


def wrap(text: str, columns: int | None = None) -> str:
    columns = columns or width()
    out = []
    for line in text.splitlines():
        if len(line) <= columns:
            out.append(line)
            continue
        indent = hanging_indent(line)
        out += textwrap.wrap(line, columns, subsequent_indent=" " * indent, break_long_words=False,
                             break_on_hyphens=False, drop_whitespace=True, replace_whitespace=False) or [line]
    return "\n".join(out)
