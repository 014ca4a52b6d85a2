"""The reliability diagram (MODEL.md §6): observed frequency against mean forecast, per bin.

matplotlib is imported inside `reliability_png`, so importing this module costs nothing at
start-up. The PNG is byte-stable: the Agg canvas, matplotlib's default style plus a fixed rc
(font, size, dpi 100), fixed margins instead of a layout engine, and no PNG metadata (no
'Software' line), so the same calibration gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from forecaster.analysis.scores import Calibration

DPI = 100
_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
# The house chart style (the brief's trend chart too).
CHART_RC: dict[Any, Any] = {  # dict[Any, Any]: matplotlib types rc keys as a Literal of every rcParam
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs everywhere
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "path.simplify": False,
}


def _series(calibration: Calibration | Mapping[str, Calibration]) -> list[tuple[str, list[tuple[float, float, int]]]]:
    """(label, [(mean forecast, observed frequency, count), …]) per state, non-empty bins only."""
    if isinstance(calibration, Calibration):
        named: list[tuple[str, Calibration]] = [("", calibration)]
    else:
        named = list(calibration.items())
    out = []
    for hyp, cal in named:
        for state in cal.states:
            pts = [
                (b.mean_forecast, b.observed, b.count)
                for b in cal.for_state(state)
                if b.count and b.mean_forecast is not None and b.observed is not None
            ]
            out.append((f"{hyp}: {state}" if hyp else state, pts))
    return out


def reliability_png(calibration: Calibration | Mapping[str, Calibration], title: str) -> bytes:
    """A reliability diagram as PNG bytes: for each state (one series per state; given a mapping
    of hypothesis → Calibration, one per hypothesis state, labelled "hypothesis: state"), the
    observed frequency against the mean forecast in every non-empty bin, the count beside each
    point, and the diagonal of perfect calibration."""
    import logging

    # Matplotlib's own warnings (e.g. an unwritable config folder under cron) are not ours to print.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    import matplotlib.style
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    series = _series(calibration)
    with matplotlib.style.context("default"), rc_context(CHART_RC):
        fig = Figure(figsize=(6.4, 4.8), dpi=DPI)
        FigureCanvasAgg(fig)
        fig.subplots_adjust(left=0.11, right=0.70, top=0.91, bottom=0.11)
        ax = fig.add_subplot(1, 1, 1)
        ax.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=0.9, label="perfect calibration")
        for i, (label, pts) in enumerate(series):
            colour, marker = _PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]
            xs, ys = [x for x, _, _ in pts], [y for _, y, _ in pts]
            ax.plot(xs, ys, color=colour, marker=marker, markersize=4.5, linewidth=1.2, label=label)
            for x, y, c in pts:
                ax.annotate(str(c), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=6.5, color=colour)
        if not any(pts for _, pts in series):
            ax.text(0.5, 0.5, "no resolved forecasts", ha="center", va="center", color="#666666")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("forecast probability (mean in bin)")
        ax.set_ylabel("observed frequency")
        ax.set_title(title, loc="left")
        ax.grid(color="#e5e5e5", linewidth=0.6)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=7.0, title="numbers: count")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


__all__ = ["reliability_png"]
