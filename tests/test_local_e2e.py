"""The embedded default as a user runs it: a local sweep through submitit's local executor."""

from __future__ import annotations

import json
import shutil

import pytest
from launching import check_header_commands, launch

from ravejobs.data.store import PackedStore
from ravejobs.metrics import FILE, read_metrics

SHORT = ("phase.warmup=6", "phase.gan_steps=4", "train.val_every=5", "train.log_every=2",
         "prior.max_steps=4", "stage=all")


@pytest.mark.slow
def test_demo_sweep_trains_through_both_phases_and_skips_when_typed_again(tmp_path):
    root = tmp_path / "a root with 'quotes' and $dollar"
    first = launch(root, *SHORT, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "train: 1 task(s)" in first.stdout, first.stdout + first.stderr
    runs = {p.name.split(".")[0]: p for p in (root / "runs").iterdir()}
    assert sorted(runs) == ["03-TR-99-DEMO", "04-TP-99-DEMO", "05-EX-99-DEMO"]
    (prepare,) = (root / "data").glob("02-PR-99-DEMO.*")
    prepared = json.loads((prepare / "state.json").read_text())
    assert prepared["status"] == "finished", prepared
    assert PackedStore(prepared["extra"]["data"]["store"]).num_samples > 0
    train = runs["03-TR-99-DEMO"]
    state = json.loads((train / "state.json").read_text())
    assert (state["status"], state["step"], state["phase"]) == ("finished", 10, "gan")
    assert (train / "checkpoints" / "last.ckpt").is_file()
    assert (train / "checkpoints" / "phase-vae-end.ckpt").is_file()
    metrics, _ = read_metrics(train / FILE)
    assert max(metrics["distance"]) >= 8 and metrics["phase"][max(metrics["phase"])][1] == 1.0
    assert any((train / "tb").iterdir())
    logs = list((train / "logs").iterdir())
    assert logs and all(p.is_symlink() and p.exists() for p in logs)
    prior = json.loads((runs["04-TP-99-DEMO"] / "state.json").read_text())
    assert (prior["status"], prior["step"]) == ("finished", 4)
    export = runs["05-EX-99-DEMO"]
    exported = json.loads((export / "state.json").read_text())
    assert (exported["status"], exported["step"]) == ("finished", 10), exported
    (ts,) = (export / "export").glob("*.ts")
    summary = json.loads((export / "export" / "summary.json").read_text())
    assert summary["file"] == str(ts) and summary["prior"] and ts.stat().st_size > 100_000
    import torch

    scripted = torch.jit.load(str(ts))
    assert hasattr(scripted, "encode") and hasattr(scripted, "decode")
    manifest = json.loads(next((root / "sweeps").glob("*/manifest.json")).read_text())
    assert {r["stage"] for r in manifest["runs"]} == {"prepare", "train", "prior", "export"}

    before = (train / "state.json").read_text()
    again = launch(root, *SHORT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "train: 1 task(s)" not in again.stdout and "prior: 1 task(s)" not in again.stdout
    assert "not resubmitted" in again.stdout
    assert (train / "state.json").read_text() == before

    # Every job header's reproduce and by-hand commands, run for real as printed.
    for folder in [*runs.values(), prepare]:
        check_header_commands(folder, root)

    # stage=export alone re-exports from the trained model and prior; nothing else runs.
    export_file = next((export / "export").glob("*.ts"))
    shutil.rmtree(export)
    trained_state = (train / "state.json").read_text()
    alone = launch(root, *SHORT[:-1], "stage=export", timeout=900)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "train: " not in alone.stdout and "prior: " not in alone.stdout
    assert export_file.is_file()
    assert (train / "state.json").read_text() == trained_state
