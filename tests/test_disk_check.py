"""A sweep that cannot fit on its storage root is refused with the figures (issue 12, item 6)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from compose import compose_spec

from ravejobs.config import ModelSpec
from ravejobs.diskcheck import (
    checkpoint_bytes,
    discriminator_parameters,
    parameters,
    space_need,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _root(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path / "root"))


@pytest.mark.parametrize("changes", [{}, {"capacity": 32, "d_n_layers": 2},
                                     {"d_capacity": 8, "d_multiplier": 2}])
def test_the_estimate_matches_the_real_model(changes):
    from ravejobs.config import KLSpec
    from ravejobs.model.module import RAVE

    spec = dataclasses.replace(ModelSpec(), **changes)
    model = RAVE(spec, 10, KLSpec())
    disc = sum(p.numel() for n, p in model.named_parameters() if n.startswith("discriminator"))
    total = sum(p.numel() for p in model.parameters())
    assert discriminator_parameters(spec) == disc
    assert abs(parameters(spec) - total) / total < 0.03


def _specs(n: int, *extra: str):
    return [compose_spec(["dataset=as", "dry_run=true", f"seed={i}", *extra]) for i in range(n)]


def test_kept_checkpoints_times_runs_against_free_space(tmp_path):
    specs = _specs(3, "train.keep_last=2")
    one = checkpoint_bytes(specs[0].model)
    assert 400e6 < one < 450e6  # rave_v1: 34.5M parameters x 12 bytes
    need = space_need(specs, [tmp_path / f"r{i}" for i in range(3)], free=10 * one)
    assert (need.runs, need.kept, need.needed) == (3, 4, 12 * one) and not need.fits
    line = need.line("/projects/x")
    assert "4 checkpoint(s) of ~0.41 GB for each of 3 training run(s): 4.95 GB more; " \
           f"{10 * one / 1e9:.2f} GB free" in line
    assert space_need(specs, [tmp_path / f"r{i}" for i in range(3)], free=12 * one).fits


def test_existing_checkpoints_count_their_real_size(tmp_path):
    specs = _specs(1, "train.keep_last=1")
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"x" * 1000)
    need = space_need(specs, [folder], free=10_000)
    assert (need.per_checkpoint, need.needed) == (1000, 2000) and need.fits


def test_a_full_root_stops_the_launch_before_anything_is_written(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 1 MB tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        root = small / "ravejobs"
        env = {**os.environ, "RAVEJOBS_ROOT": str(root), "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "launch.py", "stage=train"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 2, out.stdout + out.stderr
        line = next(x for x in out.stderr.splitlines() if x.startswith("Not enough space"))
        assert str(root) in line and "3 checkpoint(s)" in line and "free" in line
        assert "Traceback" not in out.stderr
        assert not root.exists()
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
