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


def _single_token(col: Any) -> bool:
    cells = [c for c in col._cells if _width(c)]
    return bool(cells) and all(len((c.plain if isinstance(c, Text) else str(c)).split()) == 1 for c in cells)


def markdown(text: str) -> Any:
    """Rich Markdown whose tables never cut an id: a column of single tokens (ids, numbers, dates)
    keeps them whole; the others wrap (Rich's own tables end long words in an ellipsis)."""
    from rich.markdown import Markdown, TableElement

    class _Table(TableElement):
        def __rich_console__(self, console: Any, options: Any) -> Any:
            for table in super().__rich_console__(console, options):
                if isinstance(table, Table):
                    ids = [i for i, col in enumerate(table.columns) if _single_token(col)]
                    never_cut(table, *ids)
                yield table

    class _Markdown(Markdown):
        elements = {**Markdown.elements, "table_open": _Table}

    return _Markdown(text)
