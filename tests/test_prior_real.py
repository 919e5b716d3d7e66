"""The prior on a real tiny RAVE trained here: encode, train, sample, decode; refuse VAEs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from compose import compose_spec
from test_prior_helpers import one_thread  # noqa: F401
from test_train_helpers import BASE, corpus, train  # noqa: F401

from ravejobs.cli import main as cli
from ravejobs.model import checkpoints, load_trained
from ravejobs.prior.latents import LatentStore
from ravejobs.prior.model import load_prior, sample
from ravejobs.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus):  # noqa: F811
    """(spec, model run, prior run): a tiny two-phase RAVE, trained once for the module."""
    raw, packed = corpus
    root = tmp_path_factory.mktemp("real prior $root")
    overrides = [o for o in BASE if not o.startswith("prior=")]
    spec = compose_spec([*overrides, "prior=demo", "prior.max_steps=4", "prior.n_frames=24",
                         f"dataset.raw='{raw}'", f"dataset.packed='{packed}'",
                         f"storage.root='{root}'"])
    model_run, prior_run = RunDir.for_spec(spec, "train"), RunDir.for_spec(spec, "prior")
    model_run.create(spec)
    prior_run.create(spec)
    train(model_run)
    return spec, model_run, prior_run


def test_prior_of_a_real_model_samples_audio_of_the_right_length_and_rate(trained):
    from ravejobs.jobs.runner import StageRunner

    spec, model_run, prior_run = trained
    rave = load_trained(model_run)
    assert rave.phase == "gan"
    summary = StageRunner("prior", str(prior_run.path))()
    assert summary["steps"] == 4 and summary["model_checkpoint"] == str(rave.checkpoint_path)

    store = LatentStore(prior_run.path / "latents")
    assert store.meta.model.checkpoint == str(rave.checkpoint_path)
    assert store.meta.model.step == rave.step == spec.phase.max_steps
    assert store.meta.model.signature == model_run.signature
    assert store.latent_size == rave.latent_size and store.meta.hop == rave.hop
    # the store holds what the model's encoder gives for the corpus (first chunk, first file)
    from ravejobs.data.store import PackedStore

    audio = torch.from_numpy(PackedStore(spec.dataset.packed).signal(0)[:spec.model.n_signal])
    mean, std = rave.posterior(audio.reshape(1, 1, -1))
    direct, direct_std = mean[0].T.numpy(), std[0].T.numpy()
    assert torch.allclose(torch.from_numpy(store.z[:len(direct)].copy()),
                          torch.from_numpy(direct), atol=1e-4)
    assert store.posterior is not None
    assert torch.allclose(torch.from_numpy(store.posterior.scale[:len(direct)].copy()),
                          torch.from_numpy(direct_std), atol=1e-4)
    state = json.loads(prior_run.state_file.read_text())
    assert state["extra"]["model"]["checkpoint"] == str(rave.checkpoint_path)

    prior = load_prior(prior_run.path / "prior.pt")
    z = sample(prior, 20, temperature=0.8, generator=torch.Generator().manual_seed(0))
    assert z.shape == (1, rave.latent_size, 20)
    out = rave.decode(z)
    assert out.shape == (1, 1, 20 * rave.hop) and rave.sr == spec.dataset.sr == 16000
    assert torch.isfinite(out).all()


@pytest.mark.slow   # two job processes start (torch, Lightning): about 40 s on the shared CPU
def test_time_limit_signal_requeues_and_resumes_in_a_real_process(trained, tmp_path,
                                                                   monkeypatch):
    """submitit's local executor, its real USR2 handler, a real requeue of the same job."""
    import time

    import submitit

    from ravejobs.jobs.runner import StageRunner
    from ravejobs.metrics import read_metrics

    spec, model_run, _ = trained
    # checkpoints only at the signal and the end: the test is about the requeue
    spec = replace(spec, prior=replace(spec.prior, max_steps=100),
                   train=replace(spec.train, checkpoint_every_steps=1000))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # the job process: see one_thread
    run = RunDir.for_spec(spec, "prior")
    run.create(spec)
    executor = submitit.LocalExecutor(folder=tmp_path / "logs")
    executor.update_parameters(timeout_min=5)
    job = executor.submit(StageRunner("prior", str(run.path)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows, _ = read_metrics(run.metrics_file)
        if len(rows.get("prior_loss", {})) >= 3 or job.done():
            break
        time.sleep(0.05)
    assert not job.done(), job.stderr()
    # What SLURM does before the time limit: USR2 to the task (submitit's `_interrupt` would
    # signal the local controller, which has no USR2 handler, so signal its child).
    controller = job._process.pid
    children = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
    assert children, "the local controller has no task process"
    os.kill(int(children[0]), signal.SIGUSR2)
    summary = job.result()
    out = job.stdout() or ""
    assert summary["steps"] == 100
    assert "requeued at time limit" in out and "resumed from" in out
    resumed_at = int(re.search(r"resumed from .* at step (\d+)", out).group(1))
    assert 3 <= resumed_at < 100
    assert json.loads(run.state_file.read_text())["status"] == "finished"


def test_a_model_stopped_in_the_vae_phase_is_refused(trained, tmp_path, capsys):
    from ravejobs.jobs.prior import PriorRefused
    from ravejobs.jobs.runner import StageRunner

    spec, shared_model, _ = trained
    # The module's model stays whole: this test works on its own copy under its own root.
    spec = replace(spec, storage=replace(spec.storage, root=str(tmp_path / "own root")))
    model_run, prior_run = RunDir.for_spec(spec, "train"), RunDir.for_spec(spec, "prior")
    model_run.create(spec)
    prior_run.create(spec)
    model_run.checkpoints.mkdir(parents=True, exist_ok=True)
    # keep only the state at warmup
    shutil.copy2(shared_model.checkpoints / checkpoints.PHASE_END, model_run.checkpoints)
    assert load_trained(model_run).phase == "vae"
    assert load_trained(shared_model).phase == "gan"
    with pytest.raises(PriorRefused, match=r"phase 'vae', before the adversarial phase"):
        StageRunner("prior", str(prior_run.path))()
    # `ravejobs export` refuses it too: exit 1, one line saying why, no file
    capsys.readouterr()
    assert cli(["export", str(model_run.path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ravejobs export: refused:") and "phase 'vae'" in err
    assert not model_run.export.exists() or not list(model_run.export.glob("*.ts"))


# The prior job's own behaviours (exact resume, USR2, SIGTERM, a checkpoint of another model
# step) on the real tiny model; tests/test_prior_job.py has them on a stand-in too.


@pytest.fixture
def own(trained, tmp_path):
    """(model run, prior run) under this test's root: a copy of the module's trained model
    and a fresh prior folder (6 steps, checkpoints every 4, the last two kept)."""
    spec, shared_model, _ = trained
    spec = replace(spec, storage=replace(spec.storage, root=str(tmp_path / "root 'q' $x")),
                   prior=replace(spec.prior, max_steps=6),
                   train=replace(spec.train, checkpoint_every_steps=4, log_every=2,
                                 val_every=3, keep_last=2))  # two: one can be lost
    model_run, prior_run = RunDir.for_spec(spec, "train"), RunDir.for_spec(spec, "prior")
    model_run.create(spec)
    prior_run.create(spec)
    model_run.checkpoints.mkdir(parents=True, exist_ok=True)
    for path in shared_model.checkpoints.glob("*.ckpt"):
        shutil.copy2(path, model_run.checkpoints)
    newest, ckpt = checkpoints.newest_valid(model_run.checkpoints)
    model_run.update_state(status="finished", step=ckpt["step"], phase=ckpt["phase"],
                           checkpoint=str(newest))   # as the train job leaves it
    return model_run, prior_run


def prior_params(run: RunDir) -> dict[str, torch.Tensor]:
    return load_prior(run.path / "prior.pt").state_dict()


def test_real_model_prior_resumes_exactly(own, capsys):
    from ravejobs.jobs.runner import StageRunner
    from ravejobs.prior.train import checkpoints as prior_checkpoints
    from ravejobs.prior.train import newest_valid

    model_run, prior_run = own
    assert StageRunner("prior", str(prior_run.path))()["steps"] == 6
    straight = prior_params(prior_run)
    # Lose everything after the step-4 checkpoint, as a kill would, and run the job again.
    prior_checkpoints(prior_run.checkpoints)[-1].unlink()
    (prior_run.path / "prior.pt").unlink()
    assert newest_valid(prior_run.checkpoints)[1]["step"] == 4
    capsys.readouterr()
    StageRunner("prior", str(prior_run.path))()
    assert "resumed from" in capsys.readouterr().out
    again = prior_params(prior_run)
    assert all(torch.equal(straight[k], again[k]) for k in straight)


class Requeued(BaseException):
    """What ends the process after submitit's handler requeued it (it exits, as SystemExit
    does): not an Exception, which the runner would record as a failure."""


def test_real_model_prior_usr2_during_a_step_checkpoints_after_it(own, monkeypatch):
    from ravejobs.jobs.runner import StageRunner
    from ravejobs.prior.train import PriorTrainer, newest_valid

    _, prior_run = own
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


def test_real_model_prior_sigterm_saves_after_the_step_and_resumes(own, monkeypatch):
    from ravejobs.jobs.runner import StageInterrupted, StageRunner
    from ravejobs.prior.train import PriorTrainer, newest_valid

    _, prior_run = own
    original = PriorTrainer.train_step
    stepped: list[int] = []

    def step_with_sigterm(self):
        if self.step == 2 and 2 not in stepped:   # kill in the middle of step 2 -> 3
            os.kill(os.getpid(), signal.SIGTERM)
        stepped.append(self.step)
        return original(self)

    monkeypatch.setattr(PriorTrainer, "train_step", step_with_sigterm)
    with pytest.raises(StageInterrupted, match="SIGTERM at step 3"):
        StageRunner("prior", str(prior_run.path))()
    assert newest_valid(prior_run.checkpoints)[1]["step"] == 3
    assert not (prior_run.path / "prior.pt").exists()
    stepped.clear()
    assert StageRunner("prior", str(prior_run.path))()["steps"] == 6 and stepped == [3, 4, 5]


def test_real_model_prior_checkpoint_of_another_model_step_is_not_resumed(own):
    from ravejobs.jobs.prior import PriorRefused
    from ravejobs.jobs.runner import StageRunner

    model_run, prior_run = own
    StageRunner("prior", str(prior_run.path))()
    trained_at = load_trained(model_run).step
    # The model moves on: its newest checkpoint is now one more step (same weights, a real file).
    newest = checkpoints.newest_valid(model_run.checkpoints)[0]
    payload = torch.load(newest, map_location="cpu", weights_only=False)
    payload["step"] = trained_at + 1
    torch.save(payload, newest)
    assert load_trained(model_run).step == trained_at + 1
    with pytest.raises(PriorRefused, match=rf"'step': {trained_at}.*'step': {trained_at + 1}"):
        StageRunner("prior", str(prior_run.path))()


def test_export_command_from_the_prior_or_the_export_folder_includes_the_prior(own, capsys):
    from ravejobs.export.run import export_filename
    from ravejobs.jobs.runner import StageRunner

    model_run, prior_run = own
    StageRunner("prior", str(prior_run.path))()
    spec = prior_run.spec()
    export_run = RunDir.for_spec(spec, "export")
    export_run.create(spec)
    for given in (prior_run, export_run):
        capsys.readouterr()
        assert cli(["export", str(given.path)]) == 0
        out = capsys.readouterr().out
        path = given.export / export_filename(model_run)
        assert f"wrote {path}" in out and "no prior included" not in out
        info = json.loads(out[out.index("{"):])
        assert info["file"] == str(path) and info["prior"] == str(prior_run.path / "prior.pt")
        assert info["model_step"] == load_trained(model_run).step
        scripted = torch.jit.load(str(path))
        assert "prior" in info["methods"] and hasattr(scripted, "prior")
