"""Everything the commands print passes through here, so that no control character of user text
(ESC, OSC 52, CR, C1 and bidi controls) reaches the terminal raw, and no Rich markup or emoji
code in user text or a path (`[/]`, `[link=…]`, `:smile:`) is read as such (issue 12).

- `SafeConsole`: the Rich consoles `out` and `err` (cli.common). Markup and emoji codes are off
  unless a caller asks for markup (and escapes what it interpolates); every text segment is
  neutralised (core.text.neutral) before Rich adds its own styling sequences.
- `write_out` and `stdout`: the commands that bypass Rich (plain tables, `event show`, CSV, JSON,
  Markdown). JSON stays the same JSON: a control character becomes its `\\uXXXX` escape; a CSV
  row's CRLF line end stays.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

from forecaster.core.text import json_safe, neutral


def shown(text: str) -> str:
    """`text` with every control character but tab, LF and a CRLF line end made visible."""
    if "\r" not in text:
        return neutral(text)
    return "\r\n".join(neutral(part) for part in text.split("\r\n"))


class SafeConsole(Console):
    """A Console that never passes a control character of the text it prints to the terminal and
    reads no markup or emoji codes unless a call asks for markup."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        super().__init__(*args, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Any:
        """Every string Rich prints (print arguments, table cells) neutralised before it is
        measured, so the layout fits what is shown. Markup, when asked for, is parsed after:
        the markup's own brackets are not control characters."""
        return super().render_str(neutral(text), **kwargs)

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        # A safety net for Text built elsewhere: no segment's text reaches the terminal raw.
        for segment in super().render(renderable, options):
            if segment.control or not segment.text:
                yield segment
            else:
                yield Segment(neutral(segment.text), segment.style, segment.control)


def write_out(text: str) -> None:
    """Plain text on stdout, control characters shown."""
    sys.stdout.write(shown(text))


def write_json_text(text: str) -> None:
    """JSON text on stdout: the characters json.dumps leaves raw but a terminal acts on (DEL, C1
    and bidi controls, line separators) as \\u escapes, so the same JSON."""
    sys.stdout.write(shown(json_safe(text)))


class _Stdout:
    """A text stream for writers (csv.writer, the export formats) that neutralises what they write
    and always writes to the current sys.stdout (a test runner swaps it)."""

    def write(self, text: str) -> int:
        sys.stdout.write(shown(json_safe(text)))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        sys.stdout.flush()


stdout: Any = _Stdout()
