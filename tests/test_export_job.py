"""Export of a centred (default, non-causal) model, the CLI, and the refusals.

The model here is a real tiny RAVE whose checkpoint the test writes in the trainer's format
(weights from its seed, a PCA fitted on real audio): no training needed to test the plumbing.
"""

from __future__ import annotations

import pytest
import soundfile as sf
import torch
from test_export_helpers import make_spec, write_take
from test_train_helpers import corpus  # noqa: F401

from ravejobs.atomic import atomic_torch_save
from ravejobs.cli import main as cli
from ravejobs.export.run import ExportRefused, export_filename, export_run
from ravejobs.model import checkpoints, load_trained
from ravejobs.model.module import RAVE
from ravejobs.rundir import RunDir


def write_checkpoint(run: RunDir, spec, phase: str, audio: torch.Tensor) -> RAVE:
    torch.manual_seed(3)
    model = RAVE(spec.model, spec.phase.warmup, spec.kl, spec.seed).eval()
    with torch.no_grad():
        model.fidelity.update(model.encode(audio), step=2)
    step = spec.phase.max_steps if phase == "gan" else spec.phase.warmup
    atomic_torch_save(run.checkpoints / checkpoints.LAST, {
        "format": checkpoints.FORMAT, "step": step, "phase": phase,
        "state_dict": model.state_dict(), "optimizers": [], "spec": spec.to_dict(),
        "signature": run.signature})
    return model


@pytest.fixture
def point(tmp_path, corpus):  # noqa: F811
    torch.set_num_threads(1)
    spec = make_spec(tmp_path / "store $x", corpus, "prior=none", "model.cropped_latent_size=6")
    run = RunDir.for_spec(spec, "train")
    run.create(spec)
    wav = write_take(tmp_path / "take.wav", seconds=1.0)
    audio = torch.from_numpy(sf.read(str(wav), dtype="float32")[0]).reshape(1, 1, -1)
    return spec, run, audio


def test_centred_model_without_streaming_matches_the_model_buffer_by_buffer(point, tmp_path):
    spec, run, audio = point
    model = write_checkpoint(run, spec, "gan", audio)
    out = tmp_path / "odd $name's dir" / "model.ts"
    assert cli(["export", str(run.path), "--out", str(out), "--no-streaming"]) == 0
    ts = torch.jit.load(str(out))
    rave = load_trained(run)
    assert not ts.is_streaming() and int(ts.latent_size) == rave.latent_size == 6
    assert int(ts.full_latent_size) == spec.model.latent_size == 8
    ts.set_deterministic(True)
    block = audio[..., :2048]
    with torch.inference_mode():
        y1, y2 = ts.forward(block), ts.forward(block)
        # Stateless: the same buffer twice gives the same output (no cache between calls).
        assert torch.equal(y1, y2)
        z = ts.encode(block)
        assert torch.allclose(z, rave.encode(block), atol=1e-5)
        latent = model.fidelity.unproject(z)
        latent = torch.cat([latent, torch.zeros(1, 2, latent.shape[-1])], 1)
        expected = model.synthesise(model.decoder(latent, add_noise=False))
    assert torch.allclose(ts.decode(z), expected, atol=1e-5)
    assert torch.allclose(y1, expected, atol=1e-5)
    # mc.nn~ batches voices: a batch of two is each voice on its own
    pair = torch.cat([block, audio[..., 2048:4096]])
    with torch.inference_mode():
        both = ts.forward(pair)
        second = ts.forward(pair[1:])
    assert both.shape == (2, 1, 2048) and int(ts.max_batch_size) >= 2
    assert torch.allclose(both[:1], y1, atol=1e-5) and torch.allclose(both[1:], second, atol=1e-5)


def test_centred_model_streams_as_the_whole_signal_delayed_by_its_latency(point, tmp_path):
    """Stated tolerance 1e-5, after the first third of the signal (start-up transient of the
    caches, which hold layer outputs of silence where the whole-signal pass has zero padding)."""
    spec, run, audio = point
    write_checkpoint(run, spec, "gan", audio)
    assert cli(["export", str(run.path), "--streaming"]) == 0   # our extra, asked for
    path = run.export / export_filename(run)
    assert path.stat().st_mode & 0o044                # readable by the lab, not 0600
    # stateless is the default, as upstream v1 without --cached
    assert cli(["export", str(run.path), "--out", str(tmp_path / "w.ts")]) == 0
    stream, whole = torch.jit.load(str(path)), torch.jit.load(str(tmp_path / "w.ts"))
    assert stream.is_streaming() and not whole.is_streaming()
    latency = int(stream.forward_latency)
    assert latency > 0 and int(stream.encode_latency) % spec.model.hop == 0
    x = audio[..., :audio.shape[-1] // 2048 * 2048]
    for ts in (stream, whole):
        ts.set_deterministic(True)
    with torch.inference_mode():
        expected = whole.forward(x)
        got = torch.cat([stream.forward(x[..., i:i + 2048])
                         for i in range(0, x.shape[-1], 2048)], -1)
    skip = x.shape[-1] // 3
    diff = (got[..., skip + latency:] - expected[..., skip:x.shape[-1] - latency]).abs().max()
    assert float(diff) <= 1e-5 and float(expected.abs().max()) > 1e-3


def test_cli_default_path_and_bad_folder(point, tmp_path, capsys):
    spec, run, audio = point
    write_checkpoint(run, spec, "gan", audio)
    assert cli(["export", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert str(run.export / export_filename(run)) in out
    assert "no prior included" in out and "latency" in out
    assert cli(["export", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_vae_only_model_is_refused_by_job_and_command(point):
    from ravejobs.jobs.export import main as job_main
    from ravejobs.jobs.runner import StageRunner

    spec, run, audio = point
    write_checkpoint(run, spec, "vae", audio)
    export = RunDir.for_spec(spec, "export")
    export.create(spec)
    with pytest.raises(ExportRefused, match=r"phase 'vae', before the adversarial phase"):
        StageRunner("export", str(export.path))()
    assert job_main([str(export.path)]) == 1
    assert not list(export.export.glob("*.ts"))


def test_prior_of_another_checkpoint_is_refused(point):
    from ravejobs.prior.model import Prior, save_prior

    spec, run, audio = point
    write_checkpoint(run, spec, "gan", audio)
    prior_dir = run.path.parent / "prior folder"
    save_prior(prior_dir / "prior.pt", Prior(6, 8, 8, 8, 3, 2, 2), model={"step": 1},
               step=5, sr=16000, hop=64)
    prior_run = RunDir(prior_dir, "04-TP-X", "00000000", "prior")
    with pytest.raises(ExportRefused, match="train the prior again"):
        export_run(run, run.export / "x.ts", prior_run=prior_run)
    assert not (run.export / "x.ts").exists()
