"""Caches load nothing someone else could have written; private files stay private whatever the
umask; briefs and exports are never group- or world-writable (issue 12)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.safe_cache import private_dir, public_mode, trusted_file, write_private
from forecaster.core.workspace import Workspace
from forecaster.model import loading
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore

MINI = Path(__file__).parent / "data" / "mini"


class _Boom:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def umask0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _copy(tmp_path: Path) -> Path:
    import shutil

    return shutil.copytree(MINI, tmp_path / "p")


def test_the_priors_cache_is_json_and_a_planted_pickle_never_runs(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    first = loading.load_priors(root)
    (entry,) = (tmp_path / "xdg-cache").rglob("priors/*")
    assert entry.suffix == ".json"
    json.loads(entry.read_text())  # plain data
    marker = tmp_path / "pwned"
    for name in ("x.pickle", entry.with_suffix(".pickle").name):
        (entry.parent / name).write_bytes(pickle.dumps(_Boom(marker)))
    entry.write_bytes(pickle.dumps(_Boom(marker)))  # even in the JSON entry's place
    assert loading.load_priors(root) == first
    assert not marker.exists()


def _tamper(entry: Path, *, fix_digest: bool) -> None:
    data = json.loads(entry.read_text())
    text = json.dumps(data["priors"]).replace('"illustrative": "', '"illustrative": "TAMPERED ', 1)
    data["priors"] = json.loads(text)
    if fix_digest:
        data["body_sha256"] = hashlib.sha256(json.dumps(data["priors"], sort_keys=True).encode()).hexdigest()
    entry.write_text(json.dumps(data))


def test_a_tampered_priors_entry_is_refused(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    first = loading.load_priors(root)
    (entry,) = (tmp_path / "xdg-cache").rglob("priors/*.json")
    _tamper(entry, fix_digest=False)
    assert loading.load_priors(root) == first  # the body no longer matches its digest
    data = json.loads(entry.read_text())
    data["files_hash"] = "0" * 16  # an entry standing for other files
    entry.write_text(json.dumps(data))
    assert loading.load_priors(root) == first


@pytest.mark.parametrize("where", ["file", "folder", "base"])
def test_a_cache_others_could_write_is_not_loaded(tmp_path: Path, where: str) -> None:
    root = _copy(tmp_path)
    first = loading.load_priors(root)
    (entry,) = (tmp_path / "xdg-cache").rglob("priors/*.json")
    _tamper(entry, fix_digest=True)  # a consistent entry: only its place says not to trust it
    target = {"file": entry, "folder": entry.parent, "base": entry.parent.parent}[where]
    os.chmod(target, _mode(target) | 0o022)
    got = loading.load_priors(root)
    assert got == first and "TAMPERED" not in got.illustrative


def test_the_sampler_cache_is_not_unpickled_from_an_open_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "c"))
    from forecaster.inference import sampler

    marker = tmp_path / "pwned"
    path = tmp_path / "c" / "sampler" / "model-x.pkl"
    private_dir(path.parent)
    path.write_bytes(pickle.dumps(_Boom(marker)))
    for target in (path, path.parent, path.parent.parent):
        os.chmod(target, _mode(target) | 0o002)
        assert sampler._cache_load(path, None, None, None) is None  # type: ignore[arg-type]
        assert not marker.exists()
        os.chmod(target, _mode(target) & ~0o022)
    os.symlink(path, path.parent / "model-link.pkl")
    assert not trusted_file(path.parent / "model-link.pkl", root=tmp_path / "c")


def test_trusted_file_rules(tmp_path: Path) -> None:
    base = private_dir(tmp_path / "base" / "sub")
    f = base / "x"
    write_private(f, b"1")
    assert trusted_file(f, root=tmp_path / "base")
    assert not trusted_file(f, root=tmp_path / "elsewhere")  # outside its root
    assert not trusted_file(base, root=tmp_path / "base")  # not a regular file
    os.mkfifo(base / "fifo")
    assert not trusted_file(base / "fifo", root=tmp_path / "base")


def test_private_files_whatever_the_umask(tmp_path: Path, umask0: None) -> None:
    d = private_dir(tmp_path / "a" / "b")
    assert _mode(d) == 0o700 and _mode(tmp_path / "a") == 0o700
    write_private(d / "f", b"x")
    assert _mode(d / "f") == 0o600
    db = tmp_path / "f.db"
    with EventStore(db) as store:
        store.add(Report("north_kosovo_unrest", dt.date(2025, 1, 1), True, "B", 2, "R"), analyst="a")
        for p in (db, db.with_name("f.db-wal"), db.with_name("f.db-shm")):
            if p.exists():
                assert _mode(p) & 0o077 == 0, p
    os.chmod(db, 0o666)
    EventStore(db).close()
    assert _mode(db) == 0o600  # an opened-up store is closed again


def test_priors_cache_is_private_whatever_the_umask(tmp_path: Path, umask0: None) -> None:
    loading.load_priors(_copy(tmp_path))
    (entry,) = (tmp_path / "xdg-cache").rglob("priors/*.json")
    assert _mode(entry) == 0o600 and _mode(entry.parent) == 0o700


@pytest.mark.parametrize("mask", [0o000, 0o002, 0o077])
def test_briefs_and_exports_are_never_group_or_world_writable(
    runner: CliRunner, ws: Workspace, tmp_path: Path, mask: int
) -> None:
    old = os.umask(mask)
    try:
        assert public_mode() == 0o666 & ~mask & ~0o022
        out = tmp_path / "export.csv"
        r = runner.invoke(app, ["event", "export", "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert _mode(out) == 0o666 & ~mask & ~0o022
        r = runner.invoke(app, ["export", "-o", str(tmp_path / "net.bif")])
        assert r.exit_code == 0, r.output
        assert _mode(tmp_path / "net.bif") & 0o022 == 0
    finally:
        os.umask(old)


@pytest.mark.slow
def test_brief_files_are_never_group_or_world_writable(runner: CliRunner, ws: Workspace) -> None:
    old = os.umask(0)
    try:
        r = runner.invoke(app, ["brief"])
        assert r.exit_code == 0, r.output
        files = [f for f in ws.briefs_dir.iterdir() if not f.name.startswith(".")]
        assert files and all(_mode(f) == 0o644 for f in files)
        assert _mode(ws.briefs_dir) & 0o022 == 0
    finally:
        os.umask(old)


@pytest.mark.parametrize("where", ["briefs", "nested"])
def test_the_brief_folder_is_never_group_or_world_writable(runner: CliRunner, ws: Workspace, tmp_path: Path, where: str) -> None:
    old = os.umask(0)
    try:
        if where == "briefs":  # already there, and open to all (an older tool, or a careless mkdir)
            ws.briefs_dir.mkdir(mode=0o777)
            os.chmod(ws.briefs_dir, 0o777)
            folder, args = ws.briefs_dir, ["brief", "--exact"]
        else:  # -o into folders that do not exist yet
            folder = tmp_path / "out" / "deep" / "briefs"
            args = ["brief", "--exact", "-o", str(folder)]
        r = runner.invoke(app, args)
        assert r.exit_code == 0, r.output
        for d in (folder, *([folder.parent, folder.parent.parent] if where == "nested" else [])):
            assert _mode(d) & 0o022 == 0, (d, oct(_mode(d)))
        assert all(_mode(f) & 0o022 == 0 for f in folder.iterdir())
    finally:
        os.umask(old)
