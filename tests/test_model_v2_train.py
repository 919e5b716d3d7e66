"""A tiny-width RAVE v2 through both phases: exact switch, discriminator cadence, LR decay,
bitwise resume (mid-VAE, mid-GAN) and a requeue signal mid-step (as tests/test_train_resume)."""

from __future__ import annotations

import signal

import pytest
import pytorch_lightning as pl
import torch
from test_train_helpers import (  # noqa: F401
    CPU,
    assert_same,
    corpus,
    make_run,
    params,
    train,
)
from test_train_resume import Kick, Recorder

from ravejobs.metrics import read_metrics
from ravejobs.model import checkpoints

V2 = ("model=tiny_v2", "kl=v2", "kl.steps=3")


class LRs(pl.Callback):
    def __init__(self):
        self.lrs: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, *args):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus):  # noqa: F811
    spec, run = make_run(tmp_path_factory.mktemp("ref_v2"), corpus, *V2)
    rec, lrs = Recorder(), LRs()
    summary = train(run, callbacks=[rec, lrs])
    return spec, run, summary, rec.rows, lrs.lrs


def test_both_phases_with_v2_cadence(reference):
    spec, run, summary, rows, lrs = reference
    warmup, every = spec.phase.warmup, spec.model.dis_every
    assert spec.model.arch == "v2" and summary["reason"] == "finished"
    assert [r["step"] for r in rows] == list(range(spec.phase.max_steps))
    for r in rows:
        gan = r["step"] >= warmup
        assert r["frozen"] == gan, r
        assert r["enc"] == (not gan), r
        assert r["dis"] == (gan and r["step"] % every == 0), r
    # Generator LR: 1e-3 falling linearly to 1e-4 at the warmup, then constant.
    want = [spec.model.lr * (1 - 0.9 * min(s, warmup) / warmup) for s in range(len(lrs))]
    assert lrs == pytest.approx(want)
    ckpt = checkpoints.read(run.checkpoints / checkpoints.LAST)
    left, right = ckpt["state_dict"]["receptive_field"].tolist()
    assert left > 0 and right > 0  # measured once before step 0, kept in every checkpoint
    metrics, _ = read_metrics(run.metrics_file)
    for key in ("distance", "validation", "beta", "kl", "loss_gen", "loss_dis",
                "feature_matching", "fidelity_95"):
        assert key in metrics, key
    assert metrics["beta"][1][1] == pytest.approx(1e-6 ** (2 / 3) * 0.05 ** (1 / 3))


def test_valid_crop_drops_the_receptive_field_in_band_samples(reference):
    from ravejobs.model.v2 import build_model

    spec = reference[0]
    model = build_model(spec.model, spec.phase.warmup, spec.kl)
    model.receptive_field.copy_(torch.tensor([10, 9]))
    bands = torch.arange(4 * 20.0).reshape(1, 4, 20)
    assert torch.equal(model.crop(bands), bands[..., 2:17])  # floor(10/4) left, ceil(9/4) right


@pytest.mark.parametrize("stop_at", [2, 5], ids=["mid-vae", "mid-gan"])
def test_v2_resume_is_bitwise_identical(tmp_path, corpus, reference, stop_at):  # noqa: F811
    spec, ref_run, *_ = reference
    _, run = make_run(tmp_path, corpus, *V2)
    first = train(run, stop_at=stop_at)
    assert first["step"] == stop_at
    second = train(run)
    assert second["start_step"] == stop_at and second["step"] == spec.phase.max_steps
    assert_same(params(ref_run), params(run))


def test_v2_requeue_signal_mid_step_saves_at_boundary(tmp_path, corpus, reference):  # noqa: F811
    """SIGUSR2 inside iteration 4 (the first adversarial one), as in test_train_resume."""
    from ravejobs.jobs.runner import StageRunner

    spec, ref_run, *_ = reference
    _, run = make_run(tmp_path, corpus, *V2)
    job = StageRunner("train", str(run.path), hardware=CPU, callbacks=[Kick()])
    requeued = []

    def submitit_like(signum, frame):
        requeued.append(job.checkpoint())
        raise SystemExit(-1)

    old = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        torch.set_num_threads(1)
        with pytest.raises(SystemExit):
            job()
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert checkpoints.newest_valid(run.checkpoints)[1]["step"] == 5
    again = requeued[0].function
    again.options = {"hardware": CPU}
    summary = again()
    assert summary["start_step"] == 5 and summary["step"] == spec.phase.max_steps
    assert_same(params(ref_run), params(run))


def test_trained_v2_loads_for_prior_and_export(reference):
    from ravejobs.model.trained import load_trained
    from ravejobs.model.v2.module import RAVEv2

    spec, run, *_ = reference
    trained = load_trained(run)
    assert isinstance(trained.model, RAVEv2)
    x = torch.randn(1, 1, 4096) * 0.1
    z = trained.encode(x)
    assert z.shape == (1, trained.latent_size, 4096 // spec.model.hop)
    assert trained.decode(z).shape == (1, 1, 4096)


def test_v2_exports_for_nn_tilde_whole_and_streaming(reference):
    """Not streaming: the scripted encode/decode equal the trained model's. Streaming (nn~'s
    2048-sample buffers, as upstream's --streaming): the whole-signal output delayed by the
    reported latency, within 1e-5, once the start transient has passed (a centred layer's
    outputs before the start already see real samples, where the whole signal has zeros)."""
    from ravejobs.export.scripted import build
    from ravejobs.model.trained import load_trained

    spec, run, *_ = reference
    trained = load_trained(run)
    x = torch.randn(1, 1, 16384, generator=torch.Generator().manual_seed(3)) * 0.3
    whole = build(trained, streaming=False)
    assert int(whole.latent_size) == trained.latent_size
    assert int(whole.full_latent_size) == spec.model.latent_size
    z = whole.encode(x)
    torch.testing.assert_close(z, trained.encode(x), rtol=1e-5, atol=1e-5)
    torch.manual_seed(7)
    y = whole.decode(z)
    torch.manual_seed(7)
    torch.testing.assert_close(y, trained.decode(z), rtol=1e-5, atol=1e-5)

    stream = build(trained, streaming=True)
    assert stream.is_streaming()
    for m in (whole, stream):
        m.set_deterministic(True)
    hop, n = spec.model.hop, 2048
    zs = torch.cat([stream.encode(x[..., i:i + n]) for i in range(0, x.shape[-1], n)], -1)
    lag = int(stream.encode_latency) // hop
    assert 0 < lag < z.shape[-1]
    torch.testing.assert_close(zs[..., 2 * lag:], z[..., lag:-lag], rtol=1e-5, atol=1e-5)
    y = whole.decode(z)
    ys = torch.cat([stream.decode(z[..., i:i + n // hop])
                    for i in range(0, z.shape[-1], n // hop)], -1)
    lag = int(stream.decode_latency)
    assert 0 < lag < y.shape[-1]
    torch.testing.assert_close(ys[..., 2 * lag:], y[..., lag:-lag], rtol=1e-5, atol=1e-5)
