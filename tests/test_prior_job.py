"""The prior job on a real packed demo corpus: train, resume exactly, stop at USR2, refuse VAEs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from compose import compose_spec
from test_prior_helpers import StandInRAVE, one_thread  # noqa: F401

import ravejobs.model
from ravejobs.data.demo import make_demo_corpus
from ravejobs.data.prepare import prepare_corpus
from ravejobs.metrics import read_metrics
from ravejobs.prior.model import load_prior
from ravejobs.prior.train import PriorTrainer, checkpoints, newest_valid
from ravejobs.rundir import RunDir

OVERRIDES = ["dataset=demo", "prior.max_steps=6", "train.log_every=2", "train.val_every=3",
             "train.checkpoint_every_steps=4", "train.keep_last=2"]  # two: one can be lost

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A real packed demo corpus (8 s), made once for the module."""
    tmp = tmp_path_factory.mktemp("corpus")
    raw = make_demo_corpus(tmp / "raw", sr=16000, seconds=8.0)
    out = tmp / "packed"
    prepare_corpus(raw, out, 16000, workers=1, progress=False, log=lambda m: None)
    return out


def make_runs(tmp_path, monkeypatch, packed, *extra: str):
    """(prior run folder, model run folder, stand-in model holder) under a quoted root."""
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path / "root 'q' $x"))
    spec = compose_spec([*OVERRIDES, f"dataset.packed={packed}", *extra])
    model_run, prior_run = RunDir.for_spec(spec, "train"), RunDir.for_spec(spec, "prior")
    model_run.create(spec)
    prior_run.create(spec)
    holder = {"model": StandInRAVE(checkpoint_path=str(model_run.checkpoints / "last.ckpt"))}
    monkeypatch.setattr(ravejobs.model, "load_trained",
                        lambda run, device="cpu": holder["model"], raising=False)
    return prior_run, model_run, holder


@pytest.fixture
def runs(tmp_path, monkeypatch, packed):
    return make_runs(tmp_path, monkeypatch, packed)


def params(run: RunDir) -> dict[str, torch.Tensor]:
    return load_prior(run.path / "prior.pt").state_dict()


def test_job_trains_records_its_model_and_resumes_exactly(runs, capsys):
    from ravejobs.jobs.runner import StageRunner

    prior_run, model_run, _ = runs
    summary = StageRunner("prior", str(prior_run.path))()
    assert summary["steps"] == 6
    state = json.loads(prior_run.state_file.read_text())
    assert state["status"] == "finished" and state["phase"] == "prior" and state["step"] == 6
    assert state["extra"]["model"]["checkpoint"] == str(model_run.checkpoints / "last.ckpt")
    meta = json.loads((prior_run.path / "latents" / "meta.json").read_text())
    assert meta["model"]["signature"] == model_run.signature and meta["hop"] == 64
    rows, _ = read_metrics(prior_run.metrics_file)
    assert sorted(rows["prior_loss"]) == [2, 4, 6] and sorted(rows["prior_val_loss"]) == [3, 6]
    assert all(v > 0 for _, v in rows["steps_per_s"].values())
    out = capsys.readouterr().out
    assert "ravejobs job end" in out and "finished" in out
    straight = params(prior_run)

    # Lose everything after the step-4 checkpoint, as a kill would, and run the job again.
    checkpoints(prior_run.checkpoints)[-1].unlink()
    (prior_run.path / "prior.pt").unlink()
    assert newest_valid(prior_run.checkpoints)[1]["step"] == 4
    StageRunner("prior", str(prior_run.path))()
    assert "resumed from" in capsys.readouterr().out
    again = params(prior_run)
    assert all(torch.equal(straight[k], again[k]) for k in straight)


def test_a_prior_folder_from_before_the_one_scheme_resumes_from_prior_n_pt(runs, capsys):
    """Run folders written before issue 13 hold `prior-<step>.pt`: resumed exactly, then
    replaced by `last.ckpt` once state.json names it (never a file that is gone)."""
    from ravejobs.jobs.runner import StageRunner

    prior_run, _, _ = runs
    StageRunner("prior", str(prior_run.path))()
    straight = params(prior_run)
    # Rewrite the folder as the old job left it at step 4: prior-000000004.pt, no format key.
    older = prior_run.checkpoints / "last-000000004.ckpt"
    legacy = {k: v for k, v in torch.load(older, weights_only=True).items() if k != "format"}
    for path in prior_run.checkpoints.iterdir():
        path.unlink()
    (prior_run.path / "prior.pt").unlink()
    old_name = prior_run.checkpoints / "prior-000000004.pt"
    torch.save(legacy, old_name)
    prior_run.update_state(status="requeued", step=4, checkpoint=str(old_name))

    StageRunner("prior", str(prior_run.path))()
    assert f"resumed from {old_name} at step 4" in capsys.readouterr().out
    again = params(prior_run)
    assert all(torch.equal(straight[k], again[k]) for k in straight)
    state = prior_run.state()
    assert state.checkpoint == str(prior_run.checkpoints / "last.ckpt") and state.step == 6
    assert Path(state.checkpoint).is_file() and not list(prior_run.checkpoints.glob("prior-*"))


class Requeued(SystemExit):  # submitit leaves through sys.exit after requeueing
    pass


def test_usr2_during_a_step_checkpoints_after_it(runs, monkeypatch):
    from ravejobs.jobs.runner import StageRunner

    prior_run, _, _ = runs
    job = StageRunner("prior", str(prior_run.path))
    original = PriorTrainer.train_step

    def step_with_signal(self):
        if self.step == 2:   # the time limit arrives in the middle of step 2 -> 3
            os.kill(os.getpid(), signal.SIGUSR2)
        return original(self)

    def handler(signum, frame):   # what submitit's handler does: checkpoint, then exit
        delayed = job.checkpoint()
        assert isinstance(delayed.function, StageRunner)
        raise Requeued

    monkeypatch.setattr(PriorTrainer, "train_step", step_with_signal)
    previous = signal.signal(signal.SIGUSR2, handler)
    try:
        with pytest.raises(Requeued):
            job()
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert newest_valid(prior_run.checkpoints)[1]["step"] == 3
    state = json.loads(prior_run.state_file.read_text())
    assert state["status"] == "requeued" and state["step"] == 3


def test_sigterm_by_hand_saves_after_the_step_and_the_next_run_resumes(runs, monkeypatch):
    from ravejobs.jobs.runner import StageInterrupted, StageRunner

    prior_run, _, _ = runs
    original = PriorTrainer.train_step
    stepped: list[int] = []

    def step_with_sigterm(self):
        if self.step == 2 and 2 not in stepped:   # kill in the middle of step 2 -> 3
            os.kill(os.getpid(), signal.SIGTERM)
        stepped.append(self.step)
        return original(self)

    monkeypatch.setattr(PriorTrainer, "train_step", step_with_sigterm)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(StageInterrupted, match="SIGTERM at step 3"):
        StageRunner("prior", str(prior_run.path))()
    assert signal.getsignal(signal.SIGTERM) == previous   # our handler is gone again
    assert newest_valid(prior_run.checkpoints)[1]["step"] == 3
    assert not (prior_run.path / "prior.pt").exists()
    stepped.clear()
    summary = StageRunner("prior", str(prior_run.path))()
    assert summary["steps"] == 6 and stepped == [3, 4, 5]


def test_vae_only_model_is_refused(runs):
    from ravejobs.jobs.prior import PriorRefused
    from ravejobs.jobs.runner import StageRunner

    prior_run, _, holder = runs
    holder["model"] = StandInRAVE(phase="vae", step=60)
    with pytest.raises(PriorRefused, match="before the adversarial phase.*phase.warmup=60"):
        StageRunner("prior", str(prior_run.path))()
    assert not (prior_run.path / "latents").exists()


def test_missing_model_run_is_refused(runs):
    import shutil

    from ravejobs.jobs.prior import PriorRefused
    from ravejobs.jobs.runner import StageRunner

    prior_run, model_run, _ = runs
    shutil.rmtree(model_run.path)
    with pytest.raises(PriorRefused, match="stage=train"):
        StageRunner("prior", str(prior_run.path))()


def test_command_line_names_a_folder_that_is_not_a_run(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "not a 'run' $dir"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-m", "ravejobs.jobs.prior", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"{folder}: not a run folder" in done.stderr


def test_windows_shorter_than_the_diagonal_shift_name_the_setting(tmp_path, monkeypatch, packed):
    from ravejobs.jobs.runner import StageRunner

    prior_run, _, _ = make_runs(tmp_path, monkeypatch, packed, "prior.n_frames=4")
    with pytest.raises(ValueError, match=r"prior.n_frames=4: .* 4 latent dimensions"):
        StageRunner("prior", str(prior_run.path))()


def test_a_prior_checkpoint_of_another_model_step_is_not_resumed(runs):
    from ravejobs.jobs.prior import PriorRefused
    from ravejobs.jobs.runner import StageRunner

    prior_run, model_run, holder = runs
    StageRunner("prior", str(prior_run.path))()
    holder["model"] = StandInRAVE(step=200, checkpoint_path=str(model_run.checkpoints / "x"))
    with pytest.raises(PriorRefused, match=r"'step': 100.*'step': 200.*aside"):
        StageRunner("prior", str(prior_run.path))()
