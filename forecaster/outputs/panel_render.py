"""The panel (MODEL.md §7) rendered: the anonymised feedback as Markdown and self-contained HTML
(Jinja2: Markdown values through the brief's `md_escape`, HTML autoescaped), its JSON; the
status, rounds, history and scores as Rich tables and JSON. Renders only: the numbers come from
forecaster.workflow.panel and forecaster.analysis.panel."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from forecaster.analysis.panel import Feedback, Move, TableHistory
from forecaster.core.atomic import write_bytes_atomic
from forecaster.core.errors import ForecastError
from forecaster.core.safe_cache import public_dir, public_mode
from forecaster.core.text import json_safe, neutral
from forecaster.outputs.columns import never_cut
from forecaster.store.rounds import PanelRound
from forecaster.workflow.panel import PanelScores, Status


def pct(p: float) -> str:
    return f"{100 * p:.0f} %"


def _environment(kind: str) -> Any:
    import jinja2
    from markupsafe import Markup

    from forecaster.outputs.brief_render import md_escape

    common: dict[str, Any] = {
        "loader": jinja2.PackageLoader("forecaster.outputs", "templates"), "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True, "trim_blocks": True, "lstrip_blocks": True,
    }
    if kind == "html":
        env = jinja2.Environment(autoescape=True, finalize=lambda v: neutral(v) if isinstance(v, str) and not isinstance(v, Markup) else v, **common)
        env.filters["pct"] = pct
    else:
        env = jinja2.Environment(autoescape=False, finalize=md_escape, **common)  # noqa: S701 - md_escape is the escape
        env.filters["pct"] = lambda p: Markup(pct(p))
    return env


def feedback_markdown(f: Feedback) -> str:
    from markupsafe import Markup

    return str(_environment("md").get_template("panel_feedback.md.j2").render(f=f, outlier=Markup("**outlier**")))


def feedback_html(f: Feedback) -> str:
    return str(_environment("html").get_template("panel_feedback.html.j2").render(f=f))


def feedback_json(f: Feedback) -> str:
    return json_safe(json.dumps(dataclasses.asdict(f), ensure_ascii=False, indent=2))


def write_feedback(f: Feedback, folder: Path) -> list[Path]:
    """Render all three, then write each atomically: panel-round-N.{md,html,json}."""
    files = {".md": feedback_markdown(f), ".html": feedback_html(f), ".json": feedback_json(f)}
    written = []
    try:
        public_dir(folder)
        for suffix, text in files.items():
            path = folder / f"panel-round-{f.round}{suffix}"
            write_bytes_atomic(path, text.encode("utf-8"), mode=public_mode())
            written.append(path)
    except OSError as e:
        raise ForecastError(f"cannot write the feedback to {folder}: {e.strerror or e}") from None
    return written


# ---------------------------------------------------------------------------------------------
# For the facilitator
# ---------------------------------------------------------------------------------------------


def _probs(p: Sequence[float] | None) -> str:
    return "—" if p is None else " / ".join(f"{x:.2f}" for x in p)


def _given(config: Sequence[str]) -> str:
    return ", ".join(config) if config else "—"


def rounds_json(rounds: Sequence[PanelRound]) -> list[dict[str, Any]]:
    return [r.summary() for r in rounds]


def print_rounds(out: Console, rounds: Sequence[PanelRound]) -> None:
    t = Table(box=None, title="Closed panel rounds", title_justify="left")
    for col in ("round", "label", "closed (UTC)", "by", "experts", "content"):
        t.add_column(col)
    for r in rounds:
        t.add_row(str(r.number), r.label or "—", r.summary()["closed_at"], r.closed_by, str(len(r.experts)), r.experts_hash)  # type: ignore[arg-type]
    out.print(never_cut(t, 0, 5))


def move_json(m: Move) -> dict[str, Any]:
    return {"expert": m.expert, "node": m.node, "given": list(m.config), "round": m.round or None,
            "before": m.before, "after": m.after, "confidence": list(m.confidence), "rationale_diff": list(m.rationale_diff)}


def _moves_table(title: str, moves: Sequence[Move]) -> Any:
    t = Table(box=None, title=title, title_justify="left")
    for col in ("expert", "table", "given", "before", "after", "rationale (diff)"):
        t.add_column(col)
    for m in moves:
        t.add_row(m.expert, m.node, _given(m.config), _probs(m.before), _probs(m.after), "\n".join(m.rationale_diff) or "(unchanged)")
    return never_cut(t, 0, 1)


def status_json(s: Status) -> dict[str, Any]:
    return {"last_round": s.last.number if s.last else None, "joined": list(s.joined), "left": list(s.left),
            "changes": [move_json(m) for m in s.moves]}


def print_status(out: Console, s: Status) -> None:
    since = f"round {s.last.number}" if s.last else "the start (no round closed yet)"
    out.print(f"Open round: changes since {since}")
    for what, ids in (("new experts", s.joined), ("experts gone", s.left)):
        if ids:
            out.print(f"{what}: {', '.join(ids)}")
    if s.moves:
        out.print(_moves_table("Changed judgments", s.moves))
    elif s.last:
        out.print("no judgment changed")


def history_json(hs: Sequence[TableHistory]) -> list[dict[str, Any]]:
    return [
        {"node": h.node, "given": list(h.config), "states": list(h.states), "settled": h.settled,
         "rounds": [{"round": r.round, "mean": [round(x, 6) for x in r.mean], "n": round(r.n, 4),
                     "spread": [list(s) for s in r.spread], "experts": r.experts} for r in h.rounds],
         "moves": [move_json(m) for m in h.moves]}
        for h in hs
    ]


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width text table: hundreds of rows (ten rounds of every table) without Rich's
    per-cell layout cost. Cells are one line; the caller neutralises on output."""
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def history_text(hs: Sequence[TableHistory]) -> str:
    """Convergence per table and round, then who moved (for the facilitator, not the panel)."""
    rows = []
    for h in hs:
        settled = {None: "—", True: "settled", False: "not settled"}[h.settled]
        for i, r in enumerate(h.rounds):
            rows.append([h.node if i == 0 else "", _given(h.config) if i == 0 else "", str(r.round), _probs(r.mean),
                         f"{r.n:.1f}", f"{r.width:.2f}", settled if i == len(h.rounds) - 1 else ""])
    text = "Convergence per table and round (pooled mean / N / widest spread)\n"
    text += _plain_table(["table", "given", "round", "pooled mean", "N", "spread", "settled"], rows)
    moves = [m for h in hs for m in h.moves]
    if moves:
        text += "\nWho moved (for the facilitator, not the panel)\n"
        for m in moves:
            text += (f"round {m.round}: {m.expert}, {m.node} given {_given(m.config)}: "
                     f"{_probs(m.before)} -> {_probs(m.after)}\n")
            text += "".join(f"    {' '.join(line.split())}\n" for line in m.rationale_diff)
    return text


def scores_json(s: PanelScores) -> dict[str, Any]:
    def row(x: Any) -> dict[str, Any]:
        return {"who": x.who, "resolutions": x.resolutions, "brier": x.brier, "log": x.log}

    return {"experts": [row(x) for x in s.experts], "equal_weight_pool": row(s.equal_pool),
            "prior_mean_pool": row(s.prior_pool), "resolutions": [dataclasses.asdict(c) for c in s.cases],
            "weights": s.basis.to_json()}


def print_scores(out: Console, s: PanelScores) -> None:
    t = Table(box=None, title="Track records on the resolved hypotheses (MODEL.md §7)", title_justify="left")
    for col in ("who", "resolutions", "Brier (0 best)", "log score (0 best)"):
        t.add_column(col)
    for x in (*s.experts, s.equal_pool, s.prior_pool):
        t.add_row(x.who, str(x.resolutions), "—" if x.brier is None else f"{x.brier:.3f}", "—" if x.log is None else f"{x.log:.3f}")
    out.print(never_cut(t, 0))
    out.print(f"pooling now: {s.basis.describe()}")
