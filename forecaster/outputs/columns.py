"""Rich tables that never cut an id (issue 12): at 80 columns `regional_cooperation_a…` names no
indicator. `never_cut` is applied to a filled table just before it prints: id columns keep their
whole width (no wrapping, no ellipsis; folded only if the terminal is narrower than one id), every
other column wraps, and nothing ends in an ellipsis."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text


def _width(cell: Any) -> int:
    text = cell if isinstance(cell, Text) else Text(str(cell))
    return max((line.cell_len for line in text.split("\n")), default=0)


def never_cut(table: Table, *id_columns: int) -> Table:
    """Make the columns at `id_columns` (indexes) hold every id whole; let the others wrap."""
    for i, col in enumerate(table.columns):
        col.overflow = "fold"
        if i in id_columns:
            widest = max([_width(col.header), *(_width(c) for c in col._cells)])
            col.no_wrap = True
            col.min_width = max(col.min_width or 0, widest)
        elif col.justify != "right":
            col.no_wrap = False  # text wraps; numbers (right-justified) stay on one line, folded if need be
    return table
