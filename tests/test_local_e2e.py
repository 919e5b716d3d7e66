"""The embedded default as a user runs it: a local sweep through submitit's local executor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ravejobs.metrics import read_metrics

REPO = Path(__file__).resolve().parents[1]
SHORT = ("phase.warmup=6", "phase.gan_steps=4", "train.val_every=5", "train.log_every=2",
         "prior.max_steps=4", "stage=all")


def launch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "launch.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_demo_sweep_trains_through_both_phases_and_skips_when_typed_again(tmp_path):
    root = tmp_path / "a root with 'quotes' and $dollar"
    first = launch(root, *SHORT)
    assert "train: 1 task(s)" in first.stdout, first.stdout + first.stderr
    runs = {p.name.split(".")[0]: p for p in (root / "runs").iterdir()}
    train = runs["03-TR-99-DEMO"]
    state = json.loads((train / "state.json").read_text())
    assert (state["status"], state["step"], state["phase"]) == ("finished", 10, "gan")
    assert (train / "checkpoints" / "last.ckpt").is_file()
    assert (train / "checkpoints" / "phase-vae-end.ckpt").is_file()
    metrics, _ = read_metrics(train / "metrics.csv")
    assert max(metrics["distance"]) >= 8 and metrics["phase"][max(metrics["phase"])][1] == 1.0
    assert any((train / "tb").iterdir())
    logs = list((train / "logs").iterdir())
    assert logs and all(p.is_symlink() and p.exists() for p in logs)
    prior = json.loads((runs["04-TP-99-DEMO"] / "state.json").read_text())
    assert (prior["status"], prior["step"]) == ("finished", 4)
    manifest = json.loads(next((root / "sweeps").glob("*/manifest.json")).read_text())
    assert {r["stage"] for r in manifest["runs"]} == {"prepare", "train", "prior", "export"}

    before = (train / "state.json").read_text()
    again = launch(root, *SHORT)
    assert "train: 1 task(s)" not in again.stdout and "prior: 1 task(s)" not in again.stdout
    assert "not resubmitted" in again.stdout
    assert (train / "state.json").read_text() == before
