"""Atomic writes follow the user's umask and leave no temporaries behind (issues 12, 13)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from compose import compose_spec

from ravejobs.atomic import (
    atomic_torch_save,
    atomic_write,
    atomic_write_json,
    remove_stale_temps,
    temp_path,
)
from ravejobs.manifest import Manifest
from ravejobs.rundir import RunDir


@pytest.fixture
def umask():
    """Set a umask for the test; restore the old one after."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755),
                                                     (0o002, 0o664, 0o775),
                                                     (0o077, 0o600, 0o700)])
def test_records_and_checkpoints_follow_the_umask(tmp_path, monkeypatch, umask, mask, file_mode,
                                                  dir_mode):
    umask(mask)
    root = tmp_path / "root"
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    spec = compose_spec(["dataset=as", "dry_run=true"])
    run = RunDir.for_spec(spec, "train")
    run.create(spec)
    manifest = Manifest(sweep_id="sweep-00000000", root=str(root), cluster="local",
                        executor="local")
    manifest.save()
    checkpoint = atomic_torch_save(run.checkpoints / "last.ckpt", {"step": 1})
    report = atomic_write(tmp_path / "report" / "report.html", lambda fh: fh.write(b"<html>"))
    for path in (run.spec_file, run.state_file, run.path / "run.json", manifest.path,
                 checkpoint, report):
        assert mode(path) == file_mode, path
    for folder in (run.path, run.checkpoints, manifest.folder, report.parent):
        assert mode(folder) == dir_mode, folder


def test_a_killed_write_leaves_one_temporary_that_the_next_write_replaces(tmp_path):
    target = tmp_path / "state.json"
    tmp = temp_path(target)
    tmp.write_text("half of a state")  # what a job killed mid-write leaves
    atomic_write_json(target, {"step": 2})
    assert not tmp.exists() and target.read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_removes_its_temporary(tmp_path):
    def boom(fh):
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(tmp_path / "last.ckpt", boom)
    assert list(tmp_path.iterdir()) == []


def test_the_next_start_removes_temporaries_of_names_never_written_again(tmp_path):
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    stale = temp_path(folder / "checkpoints" / "prior-000000086.pt")
    stale.write_bytes(b"x")
    keep = folder / "checkpoints" / "prior-000000080.pt"
    keep.write_bytes(b"y")
    assert remove_stale_temps(folder) == [stale]
    assert not stale.exists() and keep.exists()
