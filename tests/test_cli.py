"""The core commands through CliRunner, as an analyst would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster import __version__
from forecaster.cli.main import app


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_help_lists_commands_and_examples(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--help")
    assert code == 0
    for cmd in ("init", "info", "update", "export"):
        assert cmd in out
    for cmd in ("update", "export", "info", "init"):
        code, out, _ = invoke(runner, cmd, "--help")
        assert code == 0 and "Example:" in out


def test_version(runner: CliRunner) -> None:
    code, out, _ = invoke(runner, "--version")
    assert code == 0 and __version__ in out


def test_init_and_info(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "w"
    code, out, _ = invoke(runner, "init", str(target))
    assert code == 0 and (target / "priors" / "network.yaml").exists() and (target / "scenarios").is_dir()
    code, out, _ = invoke(runner, "-w", str(target), "info", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["workspace"] == str(target.resolve()) and len(data["priors_hash"]) == 16
    code, _, err = invoke(runner, "init", str(target))
    assert code == 2 and "already holds priors" in err


def test_not_a_workspace(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = invoke(runner, "-w", str(tmp_path), "info")
    assert code == 2 and "not a workspace" in err and "Traceback" not in err


def test_default_workspace_created_in_user_data(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORECAST_WORKSPACE")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("forecaster.cli.common.interactive", lambda: True)  # at a terminal (issue 12)
    code, out, _ = invoke(runner, "info", "--json")
    assert code == 0
    assert json.loads(out)["workspace"].startswith(str(tmp_path / "xdg"))


def test_update_exact_on_events_file(runner: CliRunner, ws) -> None:  # type: ignore[no-untyped-def]
    events = ws.scenarios_dir / "historical_events.yaml"
    code, out, _ = invoke(runner, "update", "--exact", "--events", str(events), "--as-of", "2026-11-01", "--json")
    assert code == 0, out
    data = json.loads(out)
    for key in ("run_id", "as_of", "priors_hash", "events_hash", "seed", "hypotheses", "evidence", "diagnostics"):
        assert key in data
    hyp = {h["id"]: h for h in data["hypotheses"]}
    assert set(hyp) == {"encirclement", "alignment", "escalation"}
    for h in data["hypotheses"]:
        assert sum(s["posterior"] for s in h["states"]) == pytest.approx(1.0, abs=1e-5)
        assert all(s["term"] for s in h["states"])
    assert data["evidence"] and all(len(e["likelihood"]) == 2 for e in data["evidence"])
    # the documented events move the forecast toward the papers' encirclement claim
    heightened = next(s for s in hyp["encirclement"]["states"] if s["id"] == "heightened")
    assert heightened["posterior"] > heightened["prior"]


def test_update_is_cached_and_reproducible(runner: CliRunner, ws) -> None:  # type: ignore[no-untyped-def]
    events = str(ws.scenarios_dir / "historical_events.yaml")
    _, first, _ = invoke(runner, "update", "--exact", "--events", events, "--json")
    _, second, _ = invoke(runner, "update", "--exact", "--events", events, "--json")
    a, b = json.loads(first), json.loads(second)
    assert a["cached"] is False and b["cached"] is True
    assert a["hypotheses"] == b["hypotheses"] and a["run_id"] == b["run_id"]


def test_update_shows_change_since_previous(runner: CliRunner, ws) -> None:  # type: ignore[no-untyped-def]
    events = str(ws.scenarios_dir / "historical_events.yaml")
    invoke(runner, "update", "--exact", "--events", events, "--as-of", "2024-01-01")
    code, out, _ = invoke(runner, "update", "--exact", "--events", events, "--as-of", "2026-01-01", "--json")
    data = json.loads(out)
    assert data["previous_run_id"]
    assert all(s["change"] is not None for h in data["hypotheses"] for s in h["states"])


def test_update_table_is_readable_without_colour(runner: CliRunner, ws) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = invoke(runner, "update", "--exact", "--events", str(ws.scenarios_dir / "historical_events.yaml"))
    assert code == 0
    assert "\x1b[" not in out
    for word in ("encirclement", "heightened *", "posterior", "90% interval", "what moved it", "priors"):
        assert word in out


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{indicator: armed_incident_north_kosov, date: 2025-01-01, reliability: B, credibility: 2, source: s}",
         "did you mean 'armed_incident_north_kosovo'"),
        ("{indicator: csto_move, date: 2025-13-01, reliability: B, credibility: 2, source: s}", "not an ISO date"),
        ("{indicator: csto_move, date: 2999-01-01, reliability: B, credibility: 2, source: s}", "lies in the future"),
        ("{indicator: csto_move, date: 2025-01-01, reliability: G, credibility: 2, source: s}", "expected one letter A–F"),
        ("{indicator: csto_move, date: 2025-01-01, reliability: B, credibility: 9, source: s}", "expected a number 1–6"),
        ("{indicator: csto_move, date: 2025-01-01, grade: B2, source: ''}", "'source': empty"),
        ("{indicator: csto_move, date: 2025-01-01, grade: B2, source: s, colour: red}", "unknown field 'colour'"),
    ],
)
def test_bad_events_file(runner: CliRunner, ws, tmp_path: Path, row: str, message: str) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "ev.yaml"
    f.write_text(f"reports:\n  - {row}\n", encoding="utf-8")
    code, out, err = invoke(runner, "update", "--exact", "--events", str(f))
    assert code == 2
    assert message in err and "ev.yaml:2" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_malformed_events_yaml(runner: CliRunner, ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "ev.yaml"
    f.write_text("reports: [{indicator: x\n", encoding="utf-8")
    code, _, err = invoke(runner, "update", "--exact", "--events", str(f))
    assert code == 2 and "malformed YAML" in err


def test_bad_as_of(runner: CliRunner, ws) -> None:  # type: ignore[no-untyped-def]
    code, _, err = invoke(runner, "update", "--exact", "--as-of", "2025-02-30")
    assert code == 2 and "--as-of" in err


def test_export_bif_to_stdout_and_file(runner: CliRunner, ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = invoke(runner, "export", "--format", "bif")
    assert code == 0 and out.startswith("network") and "probability ( escalation | encirclement )" in out
    target = tmp_path / "n.xml"
    code, _, _ = invoke(runner, "export", "--format", "xmlbif", "-o", str(target))
    assert code == 0 and "<BIF" in target.read_text()
    code, _, err = invoke(runner, "export", "--format", "dot")
    assert code == 2 and "expected bif or xmlbif" in err


def _modules_after(args: list[str], env_ws: Path) -> set[str]:
    code = (
        "import sys\n"
        "from forecaster.cli.main import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(','.join(m for m in ('pymc', 'arviz', 'pytensor') if m in sys.modules), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**__import__("os").environ, "FORECAST_WORKSPACE": str(env_ws)}, timeout=120)
    return set(filter(None, r.stderr.strip().splitlines()[-1].split(","))) if r.stderr.strip() else set()


@pytest.mark.parametrize("args", [["--help"], ["info"], ["update", "--help"], ["export"], ["update", "--exact"]])
def test_fast_commands_never_import_pymc(ws, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert _modules_after(args, ws.root) == set()
