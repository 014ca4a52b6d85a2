"""The Monday brief as its readers meet it (issue 21): the verdict first and the method last, changes
with signed arrows (not colour alone), the watch list's direction, a trend that shows the comparison
point and fills a new workspace's weeks with exact replays, the cron line, --quiet, and an unreadable
earlier brief skipped with a note."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.core.workspace import Workspace
from forecaster.inference.exact import posterior
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from forecaster.store.events import EventStore
from tests.test_brief import NAME, UNTIL, golden_workspace, invoke


def _brief(runner: CliRunner, ws: Workspace, out: Path, *extra: str) -> tuple[int, str, str]:
    return invoke(runner, ws, "brief", "--exact", "--until", UNTIL, "--output", str(out), *extra)


@pytest.fixture
def fresh(tmp_path: Path) -> Workspace:
    """The golden store with no run recorded: a new workspace's first brief."""
    return golden_workspace(tmp_path / "fresh")


def test_verdict_comes_first_and_method_last_in_markdown_and_html(runner: CliRunner, fresh: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "b"
    code, _, err = _brief(runner, fresh, out, "--alert", "escalation.grey_zone>0.5")
    assert code == 3, err
    md = (out / f"{NAME}.md").read_text(encoding="utf-8")
    html = (out / f"{NAME}.html").read_text(encoding="utf-8")
    md_order = ["**Alerts**", "## Bottom line", "## What changed", "### What drove it", "## The call", "## What to watch",
                "## Trend", "## Method", "Clock: ", "## Provenance"]
    assert [md.index(h) for h in md_order] == sorted(md.index(h) for h in md_order)
    html_order = ['class="alert"', "<h2>Bottom line</h2>", "<h2>What changed</h2>", "<h2>The call",
                  "<h2>What to watch</h2>", "<h2>Method</h2>", "Clock: ", "<h2>Provenance</h2>"]
    assert [html.index(h) for h in html_order] == sorted(html.index(h) for h in html_order)
    # the method is said once, at the end: nothing before the verdict but the title line and the alerts
    assert md.index("Clock: ") > md.index("## Method") and md.index("Illustrative panel") > md.index("## Method")


def test_changes_drivers_and_watch_carry_signed_arrows_that_match_the_numbers(
    runner: CliRunner, fresh: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    assert _brief(runner, fresh, out)[0] == 0
    md = (out / f"{NAME}.md").read_text(encoding="utf-8")
    data = json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))
    rows = {(m[0], m[1]): m[2] for m in re.findall(r"^\| (\w+) \| (\w+) \| [^|]+ \| [^|]+ \| ([^|]+) \|$", md, re.M)}
    checked = 0
    for c in data["changes"]:
        cell = rows[(c["hypothesis"], c["state"])].strip()
        pts = round(100 * c["change"], 1)
        arrow = "▲" if pts > 0 else "▼" if pts < 0 else "·"
        assert cell.startswith(arrow), (c, cell)
        checked += pts != 0
    assert checked >= 2
    for w in data["watch"]["indicators"]:
        shift = w["shift_if_occurred"]
        arrow = "▲" if shift > 0 else "▼"
        assert f"| {w['state']} {arrow} {100 * shift:+.1f} pp |" in md


def test_a_new_workspace_trend_is_filled_with_weekly_exact_replays_that_match_update(
    runner: CliRunner, fresh: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    assert _brief(runner, fresh, out)[0] == 0
    data = json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))
    replays = [p for p in data["trend"] if p["kind"] == "replay"]
    assert len(replays) >= 11 and all(p["run_id"] is None for p in replays)
    assert len({p["as_of"] for p in data["trend"]}) == len(data["trend"])  # one point per date
    # a replay point is what `update --exact --as-of` gives on the same clock
    priors = load_priors(fresh.priors_dir)
    net = build_network(priors)
    point = replays[len(replays) // 2]
    import datetime as dt

    day = dt.date.fromisoformat(point["as_of"])
    with EventStore(fresh.db_path) as store:
        reports = store.reports_for_update(
            as_of=day, window_days=priors.evidence_window_days, by_event_time=data["clock"] == "event"
        )
    post = posterior(net, net.log_lambda(priors.fold(reports, as_of=day)))
    for h, hid in enumerate(net.hypothesis_ids):
        for k, sid in enumerate(net.states[h]):
            assert point["states"][hid][sid][0] == pytest.approx(float(post[h][k]), abs=1e-6)
    md = (out / f"{NAME}.md").read_text(encoding="utf-8")
    assert "exact-engine replays of the store (hollow dots" in md and "a diamond marks" in md


def test_the_cron_line_names_the_absolute_folder_the_reports_and_the_headline(
    runner: CliRunner, fresh: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    code, _, err = _brief(runner, fresh, out)
    assert code == 0
    line = " ".join(err.split())
    assert f"wrote {out.resolve()}/{NAME}.{{md,html,json,png}}" in line
    data = json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))
    n = data["provenance"]["reports"]
    assert f"({n} report{'s' if n != 1 else ''}; " in line
    for h in data["headline"]:
        assert f"{h['hypothesis']} {h['state']} " in line


def test_quiet_prints_nothing_unless_an_alert_fires(runner: CliRunner, fresh: Workspace, tmp_path: Path) -> None:
    code, stdout, err = _brief(runner, fresh, tmp_path / "a", "--quiet")
    assert code == 0 and stdout == "" and err == ""
    assert (tmp_path / "a" / f"{NAME}.md").is_file()
    code, stdout, err = _brief(runner, fresh, tmp_path / "b", "-q", "--alert", "escalation.grey_zone>0.5")
    assert code == 3 and "ALERT escalation.grey_zone" in err
    code, _, err = _brief(runner, fresh, tmp_path / "c", "-q", "--alert", "escalation.grey_zone>0.99")
    assert code == 0 and err == ""


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"schema": "forecast-brief/1", "period": 3}', b"[]"])
def test_an_unreadable_earlier_brief_is_skipped_with_a_note(
    runner: CliRunner, fresh: Workspace, tmp_path: Path, content: bytes
) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "2026-W46.json").write_bytes(content)
    code, _, err = _brief(runner, fresh, out)
    assert code == 0, err
    assert "skipped unreadable 2026-W46.json" in err
    md = (out / f"{NAME}.md").read_text(encoding="utf-8")
    assert "Skipped 2026-W46.json in the briefs folder" in md
    # the next week's brief compares against this one, not against the unreadable file
    code, _, err = invoke(runner, fresh, "brief", "--exact", "--until", "2026-11-29", "--output", str(out))
    data = json.loads((out / "2026-W48.json").read_text(encoding="utf-8"))
    assert code == 0 and data["baseline"]["kind"] == "brief" and NAME in data["baseline"]["label"]
