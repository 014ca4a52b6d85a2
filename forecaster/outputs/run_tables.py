"""The run log as tables: `forecast history` with its sparklines, `forecast runs list`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from forecaster.outputs.columns import NeverCut, never_cut

if TYPE_CHECKING:
    from rich.text import Text

    from forecaster.store.runs import RunRecord

SPARKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40
SPARK_MIN_RANGE = 0.10  # a sparkline spans at least 10 pp, so a wiggle of 0.1 pp stays flat


def sparkline(values: list[float]) -> str:
    """A trend in block characters, scaled to the values' range (at least SPARK_MIN_RANGE wide)."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi - lo < SPARK_MIN_RANGE:
        mid = (hi + lo) / 2
        lo = max(0.0, min(mid - SPARK_MIN_RANGE / 2, 1.0 - SPARK_MIN_RANGE))
        hi = lo + SPARK_MIN_RANGE
    top = len(SPARKS) - 1
    return "".join(SPARKS[max(0, min(top, round((v - lo) / (hi - lo) * top)))] for v in values)


def how(r: RunRecord) -> str:
    """backfill, file (an --events replay), sampled or exact."""
    if r.kind == "backfill":
        return "backfill"
    if r.evidence == "file":
        return "file"
    return "sampled" if r.sampled else "exact"


def pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def history_table(records: Sequence[RunRecord], columns: Sequence[tuple[str, str]]) -> NeverCut:
    """`forecast history`'s table: one row per run, a column per state (ids never cut)."""
    from rich.table import Table

    one = len({h for h, _ in columns}) == 1
    # No box: eight state columns fit in 120 characters only with two-space gaps.
    t = Table(box=None, pad_edge=False, header_style="bold underline")
    for name in ("as of", "run", "how"):
        t.add_column(name, no_wrap=True)
    for i, (h, s) in enumerate(columns):
        # The hypothesis heads the first of its states' columns; the numbers never wrap.
        first = i == 0 or columns[i - 1][0] != h
        head = s if one else (f"{h}\n{s}" if first else f"\n{s}")
        t.add_column(head, justify="right", overflow="fold", min_width=5)
    for r in records:
        by = {(s.hypothesis, s.state): s.posterior for s in r.states}
        t.add_row(r.as_of.isoformat(), r.run_id, how(r), *(pct(by.get(c)) for c in columns))
    return never_cut(t, 0, 1, 2)


def trend_lines(records: Sequence[RunRecord], columns: Sequence[tuple[str, str]]) -> list[str | Text]:
    """The sparkline per state over the last SPARK_WIDTH runs, after a line saying how many."""
    from rich.text import Text

    series = records[-SPARK_WIDTH:]
    runs = f"{len(series)} run{'s' if len(series) != 1 else ''}"
    lines: list[str | Text] = [f"trend over the last {runs} (oldest → newest)"]
    width = max(len(f"{h}.{s}") for h, s in columns) if columns else 0
    for h, s in columns:
        values = [
            p
            for p in (next((x.posterior for x in r.states if x.hypothesis == h and x.state == s), None) for r in series)
            if p is not None
        ]
        if values:
            line = (
                f"  {f'{h}.{s}':<{width}}  {sparkline(values):<{SPARK_WIDTH}}  {pct(values[0])} → {pct(values[-1])}"
            )
            lines.append(Text(line))
    return lines


def runs_table(shown: Sequence[RunRecord]) -> NeverCut:
    """`runs list`'s table: one row per run, ids first."""
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAVY, pad_edge=False, header_style="bold")
    for name in ("run", "how", "as of", "recorded (UTC)", "reports", "R-hat", "ESS", "div", "wall s", "draws"):
        t.add_column(
            name, no_wrap=True, justify="left" if name in ("run", "how", "as of", "recorded (UTC)", "draws") else "right"
        )
    for r in shown:
        t.add_row(
            r.run_id,
            how(r),
            r.as_of.isoformat(),
            r.recorded_at.strftime("%Y-%m-%d %H:%M"),
            str(r.reports),
            "" if r.r_hat_max is None else f"{r.r_hat_max:.3f}",
            "" if r.ess_min is None else f"{r.ess_min:.0f}",
            str(r.divergences) if r.sampled else "",
            f"{r.wall_seconds:.1f}",
            "yes" if r.netcdf else "",
        )
    return never_cut(t, 0)
