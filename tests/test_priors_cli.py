"""`forecast priors show | validate | audit | diff` through the CLI (issue 5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace

DATA = Path(__file__).parent / "data"
SEEDS = DATA / "audit_seeds"


@pytest.fixture(autouse=True)
def _seeds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test folders cite the stand-in seed papers, wherever the tests run. The bundled priors (the
    `ws` fixture) cite the real papers: found beside the repository when present, else their
    citations are checked for form only; either way the bundled audit must pass."""
    if "ws" not in request.fixturenames:
        monkeypatch.setenv("FORECAST_SEEDS", str(SEEDS))


def _run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


# ----------------------------------------------------------------------------- validate


def test_validate_ok_on_the_bundled_priors(runner: CliRunner, ws: Workspace) -> None:
    from forecaster.model.loading import load_priors

    digest = load_priors(ws.priors_dir).hash
    code, out, _ = _run(runner, "priors", "validate")
    assert code == 0
    assert out.strip() == f"ok: 3 hypotheses, 33 indicators, 3 mechanisms, 4 experts, hash {digest}"
    code, out, _ = _run(runner, "priors", "validate", "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True and data["hash"] == digest and data["indicators"] == 33
    assert data["mechanisms"] == 3


def _replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        f = folder / rel
        text = f.read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        f.write_text(text.replace(old, new), encoding="utf-8")

    return edit


A, B = "experts/analyst_a.yaml", "experts/analyst_b.yaml"


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        pytest.param(
            _replace(A, "{heightened: 0.6, contained: 0.4}", "{heightened: 0.6, contained: 0.40001}"),
            "experts/analyst_a.yaml:8: hypotheses.encirclement[0].probabilities",
            "probabilities sum to 1.00001, not 1",
            id="sum-beyond-1e-6",
        ),
        pytest.param(
            _replace(
                A,
                "    - {given: {encirclement: contained}, probabilities: {hedging: 0.6, west: 0.3, east: 0.1}, confidence: medium, rationale: r, citation: c}\n",
                "",
            ),
            "experts/analyst_a.yaml:",
            "hypotheses.alignment: missing parent configuration {'encirclement': 'contained'}",
            id="missing-configuration",
        ),
        pytest.param(
            _replace(
                "network.yaml",
                "  - id: encirclement\n    parents: []",
                "  - id: encirclement\n    parents: [escalation]",
            ),
            "network.yaml:",
            "cycle among hypotheses: encirclement -> escalation -> encirclement",
            id="cycle",
        ),
        pytest.param(
            _replace(
                "network.yaml",
                "  - id: alignment\n    parents: [encirclement]",
                "  - id: alignment\n    parents: [encirclment]",
            ),
            "network.yaml:",
            "hypotheses[1].parents[0]: unknown parent 'encirclment' (did you mean 'encirclement'?)",
            id="unknown-parent",
        ),
        pytest.param(
            _replace(B, "{hedging: likely, west: unlikely", "{hedging: probable, west: unlikely"),
            "experts/analyst_b.yaml:",
            "hypotheses.alignment[1].probabilities",
            id="non-icd-term",  # names the term: below
        ),
        pytest.param(
            _replace(A, "reviewed_by: tests", "reviewd_by: tests"),
            "experts/analyst_a.yaml:",
            "reviewd_by: unknown key 'reviewd_by' (did you mean 'reviewed_by'",
            id="unknown-key",
        ),
        pytest.param(
            _replace(
                "network.yaml",
                "    parents: [encirclement]\n    states:\n      - {id: hedging",
                "    parents: [encirclement\n    states:\n      - {id: hedging",
            ),
            "network.yaml:",
            "malformed YAML",
            id="malformed-yaml",
        ),
    ],
)
def test_validate_errors_are_one_line_with_file_and_field(
    runner: CliRunner, tmp_path: Path, edit: Callable[[Path], None], where: str, message: str
) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    edit(folder)
    code, out, err = _run(runner, "priors", "validate", "--priors", str(folder))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("error: ") and where in lines[0] and message in lines[0], lines[0]
    if "probable" in lines[0]:
        assert "'probable' is not an ICD 203 term" in lines[0]


def test_validate_tolerates_rounding_below_1e_6(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    _replace(A, "{heightened: 0.6, contained: 0.4}", "{heightened: 0.6, contained: 0.4000001}")(folder)
    code, out, _ = _run(runner, "priors", "validate", "--priors", str(folder))
    assert code == 0 and out.startswith("ok: 3 hypotheses, 4 indicators, 2 experts, hash ")


def test_validate_json_error(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    _replace(A, "reviewed_by: tests", "reviewd_by: tests")(folder)
    code, out, err = _run(runner, "priors", "validate", "--priors", str(folder), "--json")
    data = json.loads(out)
    assert code == 2 and data["ok"] is False and "reviewd_by" in data["error"] and "reviewd_by" in err


# ----------------------------------------------------------------------------- audit


def test_audit_of_the_bundled_priors_exits_0(runner: CliRunner, ws: Workspace) -> None:
    code, out, err = _run(runner, "priors", "audit", "--json")
    data = json.loads(out)
    assert code == 0, err
    assert data["passed"] is True and data["summary"]["error"] == 0
    assert data["hash"] and data["hypotheses"] == 3 and data["indicators"] == 33 and len(data["experts"]) == 4
    assert data["mechanisms"] == 3
    assert not data["pending"]
    assert data["influence"]["most_influential_expert"] in data["experts"]
    assert len(data["diagnosticity"]) >= 33
    assert {d["node"] for d in data["disagreement"]} >= {
        "encirclement",
        "alignment",
        "north_kosovo_armed_crisis",
        "rs_secession_push",
    }
    assert "priors audit: pass" in err


def test_audit_markdown_has_every_section(runner: CliRunner, ws: Workspace) -> None:
    code, out, _ = _run(runner, "priors", "audit", "--markdown")
    assert code == 0
    for heading in (
        "# Priors audit: balkan-security",
        "## Findings",
        "## Disagreement",
        "## Influence",
        "## Diagnosticity",
        "Priors hash: `",
    ):
        assert heading in out
    assert "| severity | where | field | kind | finding |" in out or "No findings." in out


def test_audit_terminal_output(runner: CliRunner) -> None:
    code, out, _ = _run(runner, "priors", "audit", "--priors", str(DATA / "audit_missing_rationale"))
    assert code == 1
    assert "Priors audit: mini" in out and "missing_rationale" in out and "Diagnosticity" in out


@pytest.mark.parametrize(
    ("folder", "kind", "code"),
    [
        ("audit_clean", None, 0),
        ("audit_missing_rationale", "missing_rationale", 1),
        ("audit_missing_citation", "missing_citation", 1),
        ("audit_bad_citation", "citation_passage", 1),
        ("audit_term_range", "term_range", 1),
        ("audit_confidence_scale", "confidence_scale", 1),
        ("audit_no_signoff", "no_signoff", 1),
        ("audit_stale_signoff", "stale_signoff", 0),
        ("audit_copied", "copied_judgment", 1),
        ("audit_flat_indicator", "no_discrimination", 1),
        ("audit_one_expert", "leave_one_out_refused", 0),
    ],
)
def test_audit_exit_codes(runner: CliRunner, folder: str, kind: str | None, code: int) -> None:
    got, out, _ = _run(runner, "priors", "audit", "--priors", str(DATA / folder), "--json")
    data = json.loads(out)
    assert got == code and data["passed"] is (code == 0)
    kinds = {f["kind"] for f in data["findings"]}
    assert kinds == set() if kind is None else kind in kinds
    for f in data["findings"]:
        assert f["severity"] in ("error", "warning", "note") and f["file"].startswith(folder) and "field" in f


def test_strict_makes_warnings_errors(runner: CliRunner) -> None:
    folder = str(DATA / "audit_stale_signoff")
    assert _run(runner, "priors", "audit", "--priors", folder)[0] == 0
    code, _, err = _run(runner, "priors", "audit", "--priors", folder, "--strict")
    assert code == 1 and "FAIL (strict" in err
    assert _run(runner, "priors", "audit", "--priors", folder, "--strict", "--max-age-days", "100000")[0] == 0


def test_audit_one_expert_panel_refuses_leave_one_out(runner: CliRunner) -> None:
    code, out, _ = _run(runner, "priors", "audit", "--priors", str(DATA / "audit_one_expert"), "--markdown")
    assert code == 0
    assert "leave-one-out refused: the panel has one expert (analyst_a)" in out
    assert "logarithmic pool" in out  # the pooling comparison still runs


def test_audit_uses_the_events_file_as_evidence(runner: CliRunner, ws: Workspace) -> None:
    events = ws.scenarios_dir / "historical_events.yaml"
    code, out, _ = _run(runner, "priors", "audit", "--json", "--events", str(events), "--as-of", "2026-11-22")
    data = json.loads(out)
    assert code == 0 and data["influence"]["reports"] > 0 and data["influence"]["indicators_reported"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--markdown", "--json"], "choose one"),
        (["--as-of", "2026-13-01"], "--as-of"),
        (["--seeds", "/no/such/folder"], "no such folder"),
    ],
)
def test_audit_usage_errors(runner: CliRunner, args: list[str], message: str) -> None:
    code, _, err = _run(runner, "priors", "audit", "--priors", str(DATA / "audit_clean"), *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_audit_of_an_invalid_folder_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(DATA / "mini", tmp_path / "mini")
    _replace(A, "reviewed_by: tests", "reviewd_by: tests")(folder)
    code, _, err = _run(runner, "priors", "audit", "--priors", str(folder))
    assert code == 2 and "reviewd_by" in err


# ----------------------------------------------------------------------------- show


def test_show_one_table(runner: CliRunner, ws: Workspace) -> None:
    code, out, _ = _run(runner, "priors", "show", "encirclement", "--markdown")
    assert code == 0
    assert "## encirclement (hypothesis; no parents)" in out
    for expert in (
        "defence_economist",
        "eu_enlargement_specialist",
        "regional_security_analyst",
        "russia_china_watcher",
    ):
        assert expert in out
    assert "pooled (linear, N=" in out and "spread (max − min)" in out and "likely → 0.68" in out


def test_show_json_and_unknown_node(runner: CliRunner) -> None:
    code, out, _ = _run(runner, "priors", "show", "--priors", str(DATA / "audit_clean"), "--json")
    data = json.loads(out)
    assert code == 0 and [t["node"] for t in data["tables"]][:3] == ["encirclement", "alignment", "escalation"]
    row = data["tables"][0]["rows"][0]
    assert row["pooled"]["mean"] == [0.5, 0.5] and len(row["judgments"]) == 2 and row["far"] == []
    code, _, err = _run(runner, "priors", "show", "encirclment", "--priors", str(DATA / "audit_clean"))
    assert code == 2 and "did you mean 'encirclement'" in err


def test_show_terminal(runner: CliRunner) -> None:
    code, out, _ = _run(runner, "priors", "show", "arms_east", "--priors", str(DATA / "audit_clean"))
    assert code == 0 and "arms_east (indicator; given encirclement)" in out and "analyst_b" in out


# ----------------------------------------------------------------------------- diff


def test_diff_of_a_folder_against_itself_reports_nothing(runner: CliRunner) -> None:
    folder = str(DATA / "audit_clean")
    code, out, _ = _run(runner, "priors", "diff", folder, folder, "--markdown", "--exit-code")
    assert code == 0 and "No changes." in out and "## " not in out
    code, out, _ = _run(runner, "priors", "diff", folder, folder, "--json")
    data = json.loads(out)
    assert code == 0 and data["empty"] is True and data["judgments"] == [] and data["structure"] == []


def test_diff_against_the_workspace(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    old = shutil.copytree(ws.priors_dir, tmp_path / "checkout" / "priors")
    code, out, _ = _run(runner, "priors", "diff", str(old.parent), "--exit-code")  # a checkout holding priors/
    assert code == 0 and "No changes." in out
    expert = ws.priors_dir / "experts" / "defence_economist.yaml"
    expert.write_text(
        expert.read_text().replace(
            "probabilities: {heightened: 0.4, contained: 0.6}", "probabilities: {heightened: 0.2, contained: 0.8}"
        )
    )
    code, out, _ = _run(runner, "priors", "diff", str(old), "--json", "--exit-code")
    data = json.loads(out)
    assert code == 1 and data["empty"] is False
    [change] = data["judgments"]
    assert (change["source"], change["node"], change["fields"]) == (
        "defence_economist",
        "encirclement",
        ["probabilities"],
    )
    assert not data["pending"]
    assert change["shift"] > 0
    assert any(
        e["hypothesis"] == "encirclement" and e["new"] < e["old"] for e in data["effect"] if e["state"] == "heightened"
    )


def test_diff_markdown_lists_changes(runner: CliRunner) -> None:
    code, out, _ = _run(
        runner, "priors", "diff", str(DATA / "audit_clean"), str(DATA / "audit_one_expert"), "--markdown"
    )
    assert code == 0
    assert "- expert removed: analyst_b" in out and "| removed | analyst_b | encirclement |" in out
    assert "## Effect on the current posterior" in out


def test_diff_of_a_missing_folder(runner: CliRunner, tmp_path: Path) -> None:
    code, _, err = _run(runner, "priors", "diff", str(tmp_path / "nope"), str(DATA / "audit_clean"))
    assert code == 2 and "no priors folder here" in err


# ----------------------------------------------------------------------------- no pymc


@pytest.mark.parametrize(
    "command", [["priors", "validate"], ["priors", "audit", "--json"], ["priors", "show", "escalation"]]
)
def test_priors_commands_never_import_pymc(ws: Workspace, command: list[str]) -> None:
    code = (
        "import sys\n"
        "from forecaster.cli.main import app\n"
        "try:\n"
        f"    app({command!r})\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = sorted(m for m in ('pymc', 'arviz', 'pytensor') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    env = {**os.environ, "FORECAST_WORKSPACE": str(ws.root)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=\n" in proc.stderr


# ----------------------------------------------------------------------------- mechanisms (issue 10)

MECH = DATA / "mini_mech"


def test_validate_counts_mechanisms(runner: CliRunner) -> None:
    code, out, _ = _run(runner, "priors", "validate", "--priors", str(MECH))
    assert code == 0 and out.startswith("ok: 3 hypotheses, 5 indicators, 1 mechanism, 2 experts, hash ")


def test_validate_mechanism_error_is_one_line_with_file_and_field(runner: CliRunner, tmp_path: Path) -> None:
    folder = shutil.copytree(MECH, tmp_path / "m")
    _replace("indicators.yaml", "    mechanism: north_crisis\n    citation: \"000", "    mechanism: [north_crisis, x]\n"
             "    citation: \"000")(folder)
    code, _, err = _run(runner, "priors", "validate", "--priors", str(folder))
    assert code == 2 and "indicators.yaml:" in err and "indicators[2].mechanism" in err
    assert "at most one mechanism parent" in err and "Traceback" not in err


def test_show_a_mechanism_and_a_mechanism_conditioned_indicator(runner: CliRunner) -> None:
    code, out, _ = _run(runner, "priors", "show", "north_crisis", "--priors", str(MECH), "--markdown")
    assert code == 0 and "## north_crisis (mechanism; given escalation)" in out and "analyst_b" in out
    code, out, _ = _run(runner, "priors", "show", "armed_incident", "--priors", str(MECH), "--json")
    [table] = json.loads(out)["tables"]
    assert table["kind"] == "indicator" and table["parents"] == ["escalation", "north_crisis"]
    assert [r["config"] for r in table["rows"]][:2] == [["grey_zone", "occurred"], ["grey_zone", "not_occurred"]]
    code, _, err = _run(runner, "priors", "show", "north_crsis", "--priors", str(MECH))
    assert code == 2 and "did you mean 'north_crisis'" in err


def test_audit_with_mechanisms_exits_0_with_influence(runner: CliRunner) -> None:
    code, out, err = _run(runner, "priors", "audit", "--priors", str(DATA / "audit_mechanisms"), "--markdown")
    assert code == 0, err
    assert "audit-mech" in out and "1 mechanism," in out and "| north_crisis | mechanism | 2 |" in out
    assert "engine_pending" not in out and "does not know mechanism nodes yet" not in out


def test_diff_with_mechanisms_lists_changes_with_effects(runner: CliRunner, tmp_path: Path) -> None:
    new = shutil.copytree(MECH, tmp_path / "new")
    _replace("experts/analyst_b.yaml", "{given: {escalation: grey_zone}, p: 0.8", "{given: {escalation: grey_zone}, p: 0.7")(
        new
    )
    code, out, _ = _run(runner, "priors", "diff", str(MECH), str(new), "--json")
    data = json.loads(out)
    assert code == 0 and not data["pending"] and data["effect"]
    [change] = data["judgments"]
    assert (change["node"], change["parents"], change["config"]) == ("north_crisis", ["escalation"], ["grey_zone"])
    code, out, _ = _run(runner, "priors", "diff", str(DATA / "mini"), str(MECH), "--markdown")
    assert code == 0 and "- mechanism added: north_crisis" in out and "- indicator armed_incident: mechanism: None -> north_crisis" in out
