"""A storage root that moves just works (issue 12, item 4).

Records keep paths relative to the root; records written with absolute paths are re-rooted
from the root their spec names. The slow test moves a real local sweep and runs status, report,
export and the re-typed sweep at the new place; nothing reappears at the old one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from compose import compose_spec

from ravejobs.manifest import Manifest, ManifestRun
from ravejobs.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]


def _records(root: Path, monkeypatch) -> tuple[Manifest, RunDir, RunDir]:
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    spec = compose_spec(["dataset=as", "dry_run=true"])
    train, prior = RunDir.for_spec(spec, "train"), RunDir.for_spec(spec, "prior")
    manifest = Manifest(sweep_id="sweep-0000beef", root=str(root), cluster="local",
                        executor="local")
    for run, stage in ((train, "train"), (prior, "prior")):
        run.create(spec)
        ckpt = run.checkpoints / "last.ckpt"
        ckpt.write_bytes(b"weights")
        run.update_state(status="finished", checkpoint=str(ckpt),
                         extra={"model_checkpoint": str(ckpt), "note": "/not/a/path/key"})
        manifest.add_run(ManifestRun(run.name, run.signature, stage, str(run.path)))
    manifest.save()
    return manifest, train, prior


def test_records_hold_paths_relative_to_the_root(tmp_path, monkeypatch):
    manifest, train, _ = _records(tmp_path / "old", monkeypatch)
    stored = json.loads(manifest.path.read_text())
    paths = [r["path"] for r in stored["runs"]]
    assert paths[0] == f"runs/{train.path.name}" and paths[1].startswith("runs/04-TP-")
    state = json.loads(train.state_file.read_text())
    assert state["checkpoint"] == f"runs/{train.path.name}/checkpoints/last.ckpt"
    assert state["extra"]["model_checkpoint"] == state["checkpoint"]
    assert state["extra"]["note"] == "/not/a/path/key"


def test_a_moved_root_reads_back_at_its_new_place(tmp_path, monkeypatch):
    _, train, prior = _records(tmp_path / "old", monkeypatch)
    (tmp_path / "old").rename(tmp_path / "new")
    new = tmp_path / "new"
    manifest = Manifest.load(new / "sweeps" / "sweep-0000beef")
    assert manifest.root == str(new)
    assert all(Path(r.path).is_dir() and str(new) in r.path for r in manifest.runs)
    moved = RunDir.open(new / "runs" / train.path.name)
    assert Path(moved.state().checkpoint).is_file()
    spec = moved.spec()
    assert spec.storage.root == str(new) and spec.dataset.raw.startswith(str(new))
    assert RunDir.for_spec(spec, "prior").path == new / "runs" / prior.path.name
    manifest.save()
    assert not (tmp_path / "old").exists(), "nothing is written under the old root"


def test_absolute_paths_of_older_records_are_re_rooted(tmp_path, monkeypatch):
    manifest, train, _ = _records(tmp_path / "old", monkeypatch)
    # what earlier versions wrote: absolute paths everywhere
    data = json.loads(manifest.path.read_text())
    for run in data["runs"]:
        run["path"] = str(tmp_path / "old" / run["path"])
    manifest.path.write_text(json.dumps(data))
    state = json.loads(train.state_file.read_text())
    state["checkpoint"] = str(tmp_path / "old" / state["checkpoint"])
    train.state_file.write_text(json.dumps(state))
    (tmp_path / "old").rename(tmp_path / "new")
    loaded = Manifest.load(tmp_path / "new" / "sweeps" / "sweep-0000beef")
    assert all(Path(r.path).is_dir() for r in loaded.runs)
    moved = RunDir.open(tmp_path / "new" / "runs" / train.path.name)
    assert moved.state().checkpoint == str(moved.checkpoints / "last.ckpt")


def _run(root: Path, *args: str, launch: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "launch.py", *args] if launch else \
        [sys.executable, "-m", "ravejobs.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_a_real_sweep_moved_to_a_new_root(tmp_path):
    old, new = tmp_path / "scratch full", tmp_path / "project $space"
    args = ("phase.warmup=4", "phase.gan_steps=2", "train.val_every=3", "train.log_every=2",
            "prior.max_steps=2", "stage=all")
    first = _run(old, *args, launch=True)
    assert first.returncode == 0, first.stdout + first.stderr
    old.rename(new)  # copy-then-delete, as far as the records can tell

    status = _run(new, "status")
    assert status.returncode == 0, status.stderr
    rows = [line for line in status.stdout.splitlines() if "-99-DEMO" in line]
    assert len(rows) == 4 and all("finished" in row for row in rows), status.stdout

    report = _run(new, "report", "latest", "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert "03-TR-99-DEMO" in (tmp_path / "report" / "report.html").read_text()

    train = next((new / "runs").glob("03-TR-99-DEMO.*"))
    export = _run(new, "export", str(train), "--out", str(tmp_path / "demo.ts"))
    assert export.returncode == 0, export.stderr
    assert "no prior included" not in export.stdout, export.stdout

    again = _run(new, *args, launch=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not resubmitted" in again.stdout and "task(s) on this machine" not in again.stdout
    assert str(new) in again.stdout  # the manifest it updated
    assert not old.exists(), "nothing was written under the old root"
