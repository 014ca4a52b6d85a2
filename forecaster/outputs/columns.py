"""Rich tables that never split an id or a number, at any terminal width (issues 12 and 21).

Rich shares out a table's width itself: when the columns do not fit it narrows the widest wrapping
columns, then every column evenly, min_width or not, and folds what no longer fits
(`encirclement.contain`/`ed` at 120 columns, `0.6`/`0` at 80). So `never_cut` does the sharing
itself, at print time, for the width it is given:
- each column's least width is its longest word (a cell of an id column: the whole cell), so a
  column may wrap prose between words but never inside one;
- columns start at their natural width and the widest that can still narrow gives way first;
- when even the least widths do not fit, the table is printed as one block per row, a
  `header: value` line per cell, which reads at any width."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text


def _text(console: Console, cell: Any) -> Text | None:
    if isinstance(cell, Text):
        return cell
    if isinstance(cell, str):
        return console.render_str(cell)
    return None


def _span(console: Console, options: ConsoleOptions, cell: Any, *, whole: bool) -> tuple[int, int]:
    """(least, natural) width of a cell: its longest word (whole: its longest line) and its longest line."""
    text = _text(console, cell)
    if text is None:
        m = Measurement.get(console, options, cell)
        return m.minimum, m.maximum
    lines = text.plain.split("\n")
    natural = max((Text(line).cell_len for line in lines), default=0)
    if whole:
        return natural, natural
    least = max((Text(word).cell_len for line in lines for word in line.split()), default=0)
    return least, natural


def _stripped(cell: Text) -> Text:
    """A cell without its indent (a nested row's), styles kept when there is none."""
    text = cell.plain
    return cell if text == text.strip() else Text(" ".join(text.split()), style=cell.style)


class NeverCut:
    """A table that shares out its width itself (see the module's doc), or prints one block per row."""

    def __init__(self, table: Table, id_columns: Iterable[int]) -> None:
        self.table = table
        self.id_columns = frozenset(id_columns)
        self.min_widths = [col.min_width or 0 for col in table.columns]  # rendering resets them

    def spans(self, console: Console, options: ConsoleOptions) -> list[tuple[int, int]]:
        """Each column's (least, natural) width, padding included."""
        wide = options.update(width=10_000)
        out = []
        for i, col in enumerate(self.table.columns):
            pad = self.table._get_padding_width(i)
            cells = [col.header] if self.table.show_header else []
            sizes = [_span(console, wide, c, whole=i in self.id_columns) for c in [*cells, *col._cells]]
            least = max((s[0] for s in sizes), default=1)
            natural = max(max((s[1] for s in sizes), default=1), self.min_widths[i], least)
            out.append((least + pad, natural + pad))
        return out

    def widths(self, console: Console, options: ConsoleOptions) -> list[int] | None:
        """Each column's width, padding included; None when the least widths do not fit."""
        spans = self.spans(console, options)
        room = options.max_width - self.table._extra_width
        if sum(least for least, _ in spans) > room:
            return None
        widths = [natural for _, natural in spans]
        while sum(widths) > room:  # the widest column that can still narrow gives way, a column at a time
            i = max((k for k in range(len(widths)) if widths[k] > spans[k][0]), key=lambda k: widths[k])
            widths[i] -= 1
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Any:
        widths = self.widths(console, options)
        if widths is None:
            yield from self.rows(console, options.max_width)
            return
        for i, (col, width) in enumerate(zip(self.table.columns, widths, strict=True)):
            col.width = max(1, width - self.table._get_padding_width(i))
            col.min_width = col.max_width = None
            col.no_wrap = False
            col.overflow = "fold"  # never reached: every word fits its column
        yield self.table

    def rows(self, console: Console, width: int) -> Iterable[RenderableType]:
        """The table as one block per row: the first cell, then `header: value` pairs packed into
        indented lines of `width`; a pair is never split between lines unless it alone is wider."""
        table = self.table
        if table.title:
            yield _text(console, table.title) or table.title
        headers = [" ".join((_text(console, c.header) or Text(str(c.header))).plain.split()) for c in table.columns]
        for r in range(table.row_count):
            cells = [_text(console, col._cells[r]) or Text(str(col._cells[r])) for col in table.columns]
            if cells[0].plain.strip():
                yield Text(" ".join(cells[0].plain.split()), style="bold")
            pairs = [Text(f"{h}: " if h else "").append_text(_stripped(c))
                     for h, c in zip(headers[1:], cells[1:], strict=True) if c.plain.strip()]
            line = Text()
            for pair in pairs:
                if line.cell_len and line.cell_len + 3 + pair.cell_len > width - 2:
                    yield Padding(line, (0, 0, 0, 2))  # what wraps stays indented under its row
                    line = Text()
                line.append_text(Text("   ") if line.cell_len else Text()).append_text(pair)
            if line.cell_len:
                yield Padding(line, (0, 0, 0, 2))
        if table.caption:
            yield _text(console, table.caption) or table.caption

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        spans = self.spans(console, options)
        extra = self.table._extra_width
        return Measurement(min(sum(s[0] for s in spans) + extra, options.max_width),
                           min(sum(s[1] for s in spans) + extra, options.max_width))


def never_cut(table: Table, *id_columns: int) -> NeverCut:
    """`table`, filled, as a renderable that never splits an id or a number: the columns at
    `id_columns` (indexes) hold each cell whole; the others wrap between words only."""
    return NeverCut(table, id_columns)


def _single_token(col: Any) -> bool:
    cells = [c for c in col._cells if (c.plain if isinstance(c, Text) else str(c)).strip()]
    return bool(cells) and all(len((c.plain if isinstance(c, Text) else str(c)).split()) == 1 for c in cells)


def markdown(text: str) -> Any:
    """Rich Markdown whose tables never split an id or a number (`never_cut`): a column of single
    tokens (ids, numbers, dates) keeps them whole; the others wrap between words."""
    from rich.markdown import Markdown, TableElement

    class _Table(TableElement):
        def __rich_console__(self, console: Any, options: Any) -> Any:
            for table in super().__rich_console__(console, options):
                if isinstance(table, Table):
                    ids = [i for i, col in enumerate(table.columns) if _single_token(col)]
                    yield never_cut(table, *ids)
                else:
                    yield table

    class _Markdown(Markdown):
        elements = {**Markdown.elements, "table_open": _Table}

    return _Markdown(text)
