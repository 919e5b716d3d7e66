"""Local sweeps (cluster=local) that run one stage, or fail: the launcher as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from launching import check_header_commands, launch
from test_data_helpers import write_bad, write_good

from ravejobs.data.store import PackedStore

pytestmark = pytest.mark.slow   # launches that start job processes: a minute on the shared CPU


def corpora(data: Path) -> None:
    """AS: three short real files (2.3 s); VIGLIENSONI: only files that are not audio."""
    write_good(data / "raw" / "AS")
    write_bad(data / "raw" / "VIGLIENSONI")


def states(root: Path) -> dict[str, dict]:
    folders = [*(root / "runs").glob("*"), *(root / "data").glob("02-PR-*")]
    return {p.name.split(".")[0]: json.loads((p / "state.json").read_text()) for p in folders}


def test_a_failed_task_blocks_only_its_dependents_and_the_sweep_exits_1(tmp_path):
    root = tmp_path / "root"
    corpora(root / "data")
    # AS prepares, then its model fails at once (windows of 4 s on 2.3 s of audio);
    # VIGLIENSONI fails to prepare. Everything after a failure is blocked, nothing else.
    out = launch(root, "-m", "dataset=as,viglienzoni", "dataset.sr=16000", "model=tiny",
                 "phase=demo", "prior=demo", "model.n_signal=65536", "train.num_workers=0",
                 f"storage.data_root={root / 'data'}", timeout=900)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "task(s) failed or blocked" in out.stdout
    got = {name: (s["status"], s.get("message", "")) for name, s in states(root).items()}
    assert got["02-PR-07-AS"][0] == "finished"
    assert got["02-PR-06-VIGLIENSONI"][0] == "failed"
    assert got["03-TR-07-AS"][0] == "failed" and "too short" in got["03-TR-07-AS"][1]
    assert got["03-TR-06-VIGLIENSONI"] == ("blocked", "blocked: its prepare failed")
    for corpus in ("07-AS", "06-VIGLIENSONI"):
        assert got[f"04-TP-{corpus}"] == ("blocked", "blocked: its train failed")
        assert got[f"05-EX-{corpus}"] == ("blocked", "blocked: its prior failed")
    assert PackedStore(root / "data" / "packed" / "AS").sr == 16000


def test_stage_prepare_runs_only_the_prepare_stage(tmp_path):
    root = tmp_path / "root"
    corpora(root / "data")
    out = launch(root, "-m", "dataset=as", "dataset.sr=16000", "stage=prepare",
                 f"storage.data_root={root / 'data'}", timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "prepare: 1 task(s)" in out.stdout and "train: " not in out.stdout
    store = PackedStore(root / "data" / "packed" / "AS")
    assert store.sr == 16000 and len(store.files) == 3
    assert not (root / "runs").exists()
    (manifest,) = (root / "sweeps").glob("*/manifest.json")
    assert {r["stage"] for r in json.loads(manifest.read_text())["runs"]} == {"prepare"}

    # The job header's two commands, run for real as printed: the same run, same signature.
    (folder,) = (root / "data").glob("02-PR-07-AS.*")
    check_header_commands(folder, root)
