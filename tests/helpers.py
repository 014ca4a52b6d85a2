"""Small builders for test priors folders."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

MINI = Path(__file__).parent / "data" / "mini"


def copy_mini(dest: Path) -> Path:
    shutil.copytree(MINI, dest)
    return dest


def edit_yaml(path: Path, fn: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def write_priors(dest: Path, *, hypotheses: list[dict[str, Any]], indicators: list[dict[str, Any]],
                 experts: dict[str, dict[str, Any]], method: str = "linear",
                 mechanisms: list[dict[str, Any]] | None = None, half_life_days: Any = "absent") -> Path:
    """A priors folder from plain dicts (hand-computed cases)."""
    (dest / "experts").mkdir(parents=True)
    net = {"name": "t", "evidence_window_days": 3650, "hypotheses": hypotheses}
    (dest / "network.yaml").write_text(yaml.safe_dump(net), encoding="utf-8")
    catalogue: dict[str, Any] = {"confidence": "medium", "indicators": indicators}
    if mechanisms:
        catalogue["mechanisms"] = mechanisms
    (dest / "indicators.yaml").write_text(yaml.safe_dump(catalogue), encoding="utf-8")
    settings = {
        "pooling": {"method": method},
        "grades": {
            "reliability": {"A": 0.98, "B": 0.8, "C": 0.6, "D": 0.4, "E": 0.1, "F": 0.5},
            "credibility": {"1": 0.98, "2": 0.8, "3": 0.6, "4": 0.4, "5": 0.1, "6": 0.5},
        },
    }
    if half_life_days != "absent":
        settings["half_life_days"] = half_life_days
    (dest / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    for name, spec in experts.items():
        (dest / "experts" / f"{name}.yaml").write_text(yaml.safe_dump({"id": name, "role": name, **spec}), encoding="utf-8")
    return dest


def state(sid: str) -> dict[str, str]:
    return {"id": sid, "definition": sid, "citation": "000_44e76504c81b55c5.txt, fn 1"}
