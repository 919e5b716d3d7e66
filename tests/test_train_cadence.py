"""The train job's time cadence, its refusal of a corpus at another rate, and its step loader
with worker processes (what a GPU node uses; the CPU trainer loads in-process)."""

from __future__ import annotations

import re

import pytest
import torch
from test_train_helpers import corpus, make_run, train  # noqa: F401
from torch.utils.data import DataLoader

from ravejobs.data.loader import WindowSampler
from ravejobs.data.store import PackedStore


def test_checkpoint_every_minutes_saves_between_step_checkpoints(tmp_path, corpus, capsys):  # noqa: F811
    # Step checkpoints out of reach (1000); 0.0001 minutes (6 ms) is less than any step takes.
    _, run = make_run(tmp_path, corpus, "train.checkpoint_every_steps=1000",
                      "train.checkpoint_every_minutes=0.0001")
    assert train(run)["step"] == 8
    saves = [(int(s), why) for s, why in
             re.findall(r"saved \S+ at step (\d+) \((\w[^)]*)\)", capsys.readouterr().out)]
    assert [s for s, why in saves if why == "periodic"] == [1, 2, 3, 4, 5, 6, 7], saves
    assert saves[-1] == (8, "finished")


def test_default_minutes_save_only_at_the_phase_end_and_the_finish(tmp_path, corpus, capsys):  # noqa: F811
    _, run = make_run(tmp_path, corpus, "train.checkpoint_every_steps=1000")
    assert train(run)["step"] == 8
    saves = re.findall(r"saved \S+ at step (\d+) \((\w[^)]*)\)", capsys.readouterr().out)
    assert saves == [("4", "periodic"), ("8", "finished")], saves


def test_train_refuses_a_corpus_packed_at_another_rate(tmp_path, corpus):  # noqa: F811
    _, packed = corpus
    assert PackedStore(packed).sr == 16000
    _, run = make_run(tmp_path, corpus, "dataset.sr=22050")
    with pytest.raises(ValueError, match=r"packed at 16000 Hz but model.sr=22050; prepare the "
                                         r"corpus at 22050 Hz"):
        train(run)
    assert not list(run.checkpoints.glob("*.ckpt"))


def test_step_batches_through_a_loader_with_worker_processes(corpus):  # noqa: F811
    from ravejobs.jobs.stepdata import StepBatches

    _, packed = corpus
    sampler = WindowSampler(PackedStore(packed), 2048, "train", 0.1, seed=3)
    loader = DataLoader(StepBatches(sampler, 5, 17, 2), batch_size=None, num_workers=2,
                        persistent_workers=False)
    got = list(loader)
    # every step once, in order, each with the batch the sampler gives for that step
    assert [int(s) for s, _ in got] == list(range(5, 17))
    for s, batch in got:
        assert torch.equal(batch, torch.from_numpy(sampler.batch(int(s), 2)))
