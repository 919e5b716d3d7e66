"""Exact resume: stop at step k, resume, same parameters bit for bit as one uninterrupted run."""

from __future__ import annotations

import pytest
import torch
from test_prior_helpers import DEMO, ar_latents, one_thread  # noqa: F401

from ravejobs.prior.latents import LatentWindows
from ravejobs.prior.model import Prior
from ravejobs.prior.train import PriorTrainer, checkpoints, newest_valid

Z = ar_latents(3000)
SEGMENTS = [(0, 2000), (2000, 1000)]

pytestmark = pytest.mark.usefixtures("one_thread")


def trainer(seed: int = 0) -> PriorTrainer:
    torch.manual_seed(1234)
    prior = Prior.from_spec(DEMO, Z.shape[1])
    return PriorTrainer(prior, LatentWindows(Z, SEGMENTS, DEMO.n_frames, seed=seed), DEMO, seed,
                        LatentWindows(Z, SEGMENTS, DEMO.n_frames, "val", seed=seed))


def test_stop_and_resume_gives_identical_parameters(tmp_path):
    straight = trainer()
    for _ in range(12):
        straight.train_step()

    first = trainer()
    for _ in range(5):
        first.train_step()
    first.save(tmp_path)
    for _ in range(3):          # work done after the checkpoint is lost, as at a kill
        first.train_step()

    resumed = trainer()
    path, state = newest_valid(tmp_path)
    resumed.load_state_dict(state)
    assert resumed.step == 5 and path.name == "last.ckpt"
    for _ in range(7):
        resumed.train_step()

    a, b = straight.prior.state_dict(), resumed.prior.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.validate(2) == resumed.validate(2)
    # a different seed is a different run: the test can tell runs apart
    other = trainer(seed=1)
    for _ in range(12):
        other.train_step()
    assert not torch.equal(other.prior.state_dict()["pre_net.0.weight"], a["pre_net.0.weight"])


def test_newest_valid_skips_a_corrupt_checkpoint_and_pruning_keeps_keep_last(tmp_path):
    t = trainer()
    for _ in range(3):
        t.train_step()
        t.save(tmp_path, keep_last=2)
    # the model's scheme: last.ckpt, and older states as last-<step>.ckpt up to keep_last
    assert [p.name for p in checkpoints(tmp_path)] == ["last-000000002.ckpt", "last.ckpt"]
    (tmp_path / "last-000000004.ckpt").write_bytes(b"truncated by a kill")
    messages: list[str] = []
    path, state = newest_valid(tmp_path, log=messages.append)
    assert state["step"] == 3 and path.name == "last.ckpt"
    assert "last-000000004.ckpt" in messages[0]


def test_a_legacy_prior_checkpoint_is_resumed_and_a_newer_one_wins(tmp_path):
    """Prior run folders from before the one scheme hold `prior-<step>.pt` (no format key)."""
    old = trainer()
    for _ in range(4):
        old.train_step()
    legacy = {k: v for k, v in old.state_dict().items() if k != "format"}
    torch.save(legacy, tmp_path / "prior-000000004.pt")
    path, state = newest_valid(tmp_path)
    assert path.name == "prior-000000004.pt" and state["step"] == 4
    resumed = trainer()
    resumed.load_state_dict(state)
    resumed.train_step()
    resumed.save(tmp_path)
    assert newest_valid(tmp_path)[0].name == "last.ckpt"
    # a legacy name holding something else is not taken for a checkpoint
    torch.save({"step": 99}, tmp_path / "prior-000000099.pt")
    assert newest_valid(tmp_path)[1]["step"] == 5
