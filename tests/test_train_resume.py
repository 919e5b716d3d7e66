"""Two-phase training: exact phase switch, exact resume (mid-VAE, mid-GAN, requeue signal)."""

from __future__ import annotations

import math
import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from test_train_helpers import CPU, assert_same, corpus, make_run, params, train  # noqa: F401

from ravejobs.metrics import read_metrics
from ravejobs.model import checkpoints


class Recorder(pl.Callback):
    """Per step: did the encoder / discriminator weights change, and is the encoder frozen."""

    def __init__(self):
        self.rows: list[dict] = []

    @staticmethod
    def snap(module: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten().clone() for p in module.parameters()])

    def on_train_batch_start(self, trainer, pl_module, *args):
        self.before = (self.snap(pl_module.model.encoder), self.snap(pl_module.model.discriminator))

    def on_before_backward(self, trainer, pl_module, loss):
        self.frozen = not pl_module.model.encoder.training

    def on_train_batch_end(self, trainer, pl_module, *args):
        enc, dis = self.snap(pl_module.model.encoder), self.snap(pl_module.model.discriminator)
        self.rows.append({"step": pl_module.model.step - 1,
                          "enc": not torch.equal(enc, self.before[0]),
                          "dis": not torch.equal(dis, self.before[1]),
                          "frozen": self.frozen})


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus):  # noqa: F811
    """An uninterrupted run, with what changed at every step."""
    spec, run = make_run(tmp_path_factory.mktemp("ref"), corpus)
    rec = Recorder()
    summary = train(run, callbacks=[rec])
    return spec, run, summary, rec.rows


def test_phase_switch_at_exact_step(reference):
    spec, run, summary, rows = reference
    warmup = spec.phase.warmup
    assert summary["reason"] == "finished" and summary["step"] == spec.phase.max_steps
    assert [r["step"] for r in rows] == list(range(spec.phase.max_steps))
    for r in rows:
        gan = r["step"] >= warmup
        assert r["frozen"] == gan, r
        assert r["enc"] == (not gan), r           # encoder trains only in the VAE phase
        assert r["dis"] == (gan and r["step"] % 2 == 1), r  # discriminator on odd GAN steps
    end = checkpoints.read(run.checkpoints / checkpoints.PHASE_END)
    assert end is not None and end["step"] == warmup and end["phase"] == "vae"
    assert end["next_phase"] == "gan"
    last = checkpoints.read(run.checkpoints / checkpoints.LAST)
    assert last["step"] == spec.phase.max_steps and last["phase"] == "gan"
    state = run.state()
    assert state.status == "finished" and state.step == spec.phase.max_steps
    metrics, _ = read_metrics(run.metrics_file)
    for key in ("distance", "validation", "beta", "loss_gen", "loss_dis", "feature_matching",
                "fidelity_80", "fidelity_90", "fidelity_95", "fidelity_99", "steps_per_s",
                "phase"):
        assert key in metrics, key
    assert {s: v for s, (_, v) in metrics["phase"].items()} == {
        s: float(s > warmup) for s in range(1, spec.phase.max_steps + 1)}
    assert min(metrics["loss_dis"]) > warmup  # first logged after the first GAN step
    assert any((run.tb).glob("events.out.tfevents.*"))


@pytest.mark.parametrize("stop_at", [2, 6], ids=["mid-vae", "mid-gan"])
def test_resume_is_bitwise_identical(tmp_path, corpus, reference, stop_at):  # noqa: F811
    spec, ref_run, _, _ = reference
    _, run = make_run(tmp_path, corpus)
    first = train(run, stop_at=stop_at)
    assert first["step"] == stop_at and first["reason"] == f"stop_at={stop_at}"
    assert checkpoints.newest_valid(run.checkpoints)[1]["step"] == stop_at
    second = train(run)
    assert second["start_step"] == stop_at and second["step"] == spec.phase.max_steps
    assert second["resumed_from"].endswith("last.ckpt")
    assert_same(params(ref_run), params(run))


class Kick(pl.Callback):
    """SIGUSR2 during the backward pass of iteration 4."""

    def on_before_backward(self, trainer, pl_module, loss):
        if pl_module.model.step == 4:
            os.kill(os.getpid(), signal.SIGUSR2)


def test_requeue_signal_mid_step_saves_at_boundary(tmp_path, corpus, reference):  # noqa: F811
    """SIGUSR2 arriving inside step 4 (during backward) is handled after step 4 completes."""
    from ravejobs.jobs.runner import StageRunner

    spec, ref_run, _, _ = reference
    _, run = make_run(tmp_path, corpus)
    job = StageRunner("train", str(run.path), hardware=CPU, callbacks=[Kick()])
    requeued = []

    def submitit_like(signum, frame):  # what submitit's handler does: checkpoint, then exit
        requeued.append(job.checkpoint())
        raise SystemExit(-1)

    old = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        torch.set_num_threads(1)
        with pytest.raises(SystemExit):
            job()
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert len(requeued) == 1 and isinstance(requeued[0].function, StageRunner)
    saved = checkpoints.newest_valid(run.checkpoints)[1]
    assert saved["step"] == 5 and saved["reason"] == "requeue"
    assert run.state().status == "requeued"
    again = requeued[0].function
    again.options = {"hardware": CPU}
    summary = again()
    assert summary["start_step"] == 5 and summary["step"] == spec.phase.max_steps
    assert_same(params(ref_run), params(run))


def _betas(run) -> dict[int, float]:
    metrics, _ = read_metrics(run.metrics_file)
    return {s: v for s, (_, v) in metrics["beta"].items()}


def test_fixed_kl_is_constant(reference):
    spec, run, _, _ = reference
    assert spec.kl.mode == "fixed"
    betas = _betas(run)
    assert set(betas) >= set(range(1, spec.phase.warmup + 1))
    assert all(v == pytest.approx(0.1) for v in betas.values())


def test_warmup_kl_follows_log_linear_ramp(tmp_path, corpus):  # noqa: F811
    spec, run = make_run(tmp_path, corpus, "kl=warmup", "kl.steps=3", "kl.beta_min=1e-4",
                         "kl.beta_max=0.1", "phase.gan_steps=1")
    train(run)
    betas = _betas(run)
    # beta logged at step s is the weight of generator iteration s - 1 (documented)
    for s in range(1, spec.phase.warmup + 1):
        it = s - 1
        want = 0.1 if it >= 3 else math.exp(math.log(1e-4) + (math.log(0.1) - math.log(1e-4))
                                             * it / 3)
        assert betas[s] == pytest.approx(want, rel=1e-4), (s, betas[s], want)


def test_bf16_mixed_precision_trains_both_phases(tmp_path, corpus):  # noqa: F811
    """The GPU recipe (bf16 autocast) on CPU: the spectral losses and filter bank stay float32,
    the custom STFT backwards see float32 tensors, and both phases give finite losses."""
    spec, run = make_run(tmp_path, corpus, "train.precision=bf16-mixed")
    summary = train(run)
    assert summary["reason"] == "finished" and summary["step"] == spec.phase.max_steps
    metrics, _ = read_metrics(run.metrics_file)
    distance = {step: v for step, (_, v) in metrics["distance"].items()}
    assert len(distance) == spec.phase.max_steps
    assert all(math.isfinite(v) for v in distance.values())
    loss_dis = [v for _, v in metrics["loss_dis"].values()]   # phase 2 was reached
    assert loss_dis and all(math.isfinite(v) for v in loss_dis)
    assert all(torch.isfinite(p).all() for p in params(run).values())


class _KickAt(pl.Callback):
    """Sends SIGUSR2 to this process once, at the Lightning hook `hook` (issue 13 bug 1)."""

    def __init__(self, hook: str):
        self.hook, self.sent = hook, False

    def _kick(self, hook: str) -> None:
        if hook == self.hook and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGUSR2)

    def setup(self, trainer, pl_module, stage):
        self._kick("setup")

    def on_fit_start(self, trainer, pl_module):
        self._kick("on_fit_start")

    def on_train_batch_start(self, trainer, pl_module, *args):
        self._kick("first_step")


def _optimizer_steps(ckpt: dict) -> list[int]:
    return [len(o["state"]) for o in ckpt["optimizers"]]


@pytest.mark.parametrize("hook", ["setup", "on_fit_start", "first_step"])
def test_requeue_signal_before_state_is_restored_keeps_the_checkpoint(
        tmp_path, corpus, reference, hook):  # noqa: F811
    """A time-limit signal while a resumed job sets up must not write blank optimizer states
    over last.ckpt; at the first step it saves after that step, optimizers whole; the run then
    ends bitwise equal to an uninterrupted one."""
    from ravejobs.jobs.runner import StageRunner

    spec, ref_run, _, _ = reference
    _, run = make_run(tmp_path, corpus)
    train(run, stop_at=6)  # in the GAN phase: both optimizers have state
    before = checkpoints.read(run.checkpoints / checkpoints.LAST, lazy=False)
    assert before["step"] == 6 and all(_optimizer_steps(before))
    job = StageRunner("train", str(run.path), hardware=CPU, callbacks=[_KickAt(hook)])
    requeued = []

    def submitit_like(signum, frame):  # submitit's USR2 handler: checkpoint, then exit
        requeued.append(job.checkpoint())
        raise SystemExit(-1)

    old = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        torch.set_num_threads(1)
        with pytest.raises(SystemExit):
            job()
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert len(requeued) == 1
    last = checkpoints.read(run.checkpoints / checkpoints.LAST, lazy=False)
    assert _optimizer_steps(last) == _optimizer_steps(before)
    if hook == "first_step":
        assert last["step"] == 7 and last["reason"] == "requeue"
    else:
        assert last["step"] == 6 and last["reason"] == before["reason"]
    state = run.state()
    assert state.status == "requeued" and state.step == last["step"]
    again = requeued[0].function
    again.options = {"hardware": CPU}
    summary = again()
    assert summary["step"] == spec.phase.max_steps
    assert_same(params(ref_run), params(run))


def test_state_step_is_always_its_checkpoints_step(tmp_path, corpus):  # noqa: F811
    """Issue 13 bug 4: after every step, state.json names a checkpoint whose stored step is the
    step state.json gives (none and step 0 before the first save); `started` is set."""
    _, run = make_run(tmp_path, corpus)
    seen = []

    class Check(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            state = run.state()
            ckpt = checkpoints.read(state.checkpoint) if state.checkpoint else None
            seen.append((pl_module.model.step, state.step, ckpt["step"] if ckpt else 0))
            assert state.started > 0

    train(run, callbacks=[Check()])
    assert all(state == saved for _, state, saved in seen), seen
    assert [s for s, _, _ in seen] == list(range(1, 9))
    assert run.state().started > 0
