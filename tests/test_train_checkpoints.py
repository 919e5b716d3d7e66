"""Checkpoint files: atomic rolling saves, pruning, newest valid by stored step, load_trained."""

from __future__ import annotations

import os
import time

import pytest
import torch
from test_train_helpers import corpus, make_run, train  # noqa: F401

from ravejobs.model import checkpoints, load_trained


def payload(step: int, signature: str = "abc") -> dict:
    return {"format": checkpoints.FORMAT, "step": step, "phase": "vae", "next_phase": "vae",
            "state_dict": {"w": torch.full((3,), float(step))}, "optimizers": [],
            "spec": {}, "signature": signature}


def test_rolling_saves_are_pruned_to_keep_last(tmp_path):
    for step in (10, 20, 30, 40):
        checkpoints.save_rolling(tmp_path, payload(step), keep_last=3)
    names = sorted(p.name for p in tmp_path.glob("*.ckpt"))
    assert names == ["last-000000020.ckpt", "last-000000030.ckpt", "last.ckpt"]
    assert checkpoints.read(tmp_path / "last.ckpt")["step"] == 40
    assert not list(tmp_path.glob(".tmp-*"))  # atomic writes leave no temporaries
    checkpoints.save_rolling(tmp_path, payload(50), keep_last=1)
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["last.ckpt"]


def test_newest_valid_is_by_stored_step_and_skips_corrupt_files(tmp_path):
    checkpoints.save_rolling(tmp_path, payload(30))
    checkpoints.save_phase_end(tmp_path, payload(20))
    time.sleep(0.01)
    # a newer file with a bigger-looking name but an older stored step
    torch.save(payload(5), tmp_path / "last-999999999.ckpt")
    # a newer file cut short by a crash, and one that is not ours at all
    good = (tmp_path / "last.ckpt").read_bytes()
    (tmp_path / "zz-truncated.ckpt").write_bytes(good[: len(good) // 2])
    torch.save({"step": 99}, tmp_path / "foreign.ckpt")
    future = time.time() + 100
    for name in ("last-999999999.ckpt", "zz-truncated.ckpt", "foreign.ckpt"):
        os.utime(tmp_path / name, (future, future))
    path, ckpt = checkpoints.newest_valid(tmp_path)
    assert path.name == "last.ckpt" and ckpt["step"] == 30
    assert checkpoints.read(tmp_path / "zz-truncated.ckpt") is None
    assert checkpoints.read(tmp_path / "foreign.ckpt") is None
    (tmp_path / "last.ckpt").write_bytes(good[:100])  # now the newest is corrupt too
    path, ckpt = checkpoints.newest_valid(tmp_path)
    assert path.name == checkpoints.PHASE_END and ckpt["step"] == 20
    assert checkpoints.newest_valid(tmp_path / "missing") is None


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path, corpus):  # noqa: F811
    _, run = make_run(tmp_path, corpus)
    checkpoints.save_rolling(run.checkpoints, payload(3, signature="someone-else"))
    with pytest.raises(ValueError, match="someone-else"):
        train(run)


def test_load_trained_after_vae_stop_and_cropped_latent(tmp_path, corpus):  # noqa: F811
    spec, run = make_run(tmp_path, corpus, "model.cropped_latent_size=4")
    train(run, stop_at=4)  # exactly the end of the VAE phase
    model = load_trained(run)
    assert model.phase == "vae" and model.step == 4 and model.checkpoint_path.exists()
    assert model.latent_size == 4  # cropped_latent_size fixes the size, fidelity does not
    assert model.model.fidelity.computed and int(model.model.fidelity.computed_at) == 4
    x = torch.randn(2, 1, spec.model.n_signal) * 0.1
    z = model.encode(x)
    assert z.shape == (2, 4, spec.model.n_signal // spec.model.hop)
    assert model.decode(z).shape == (2, 1, spec.model.n_signal)
    assert model.sr == 16000 and model.hop == spec.model.hop
    train(run)  # and it resumes into the adversarial phase
    model = load_trained(run)
    assert model.phase == "gan" and model.step == spec.phase.max_steps


def test_load_trained_without_checkpoint_names_the_folder(tmp_path, corpus):  # noqa: F811
    _, run = make_run(tmp_path, corpus)
    with pytest.raises(FileNotFoundError, match="no loadable checkpoint"):
        load_trained(run)
