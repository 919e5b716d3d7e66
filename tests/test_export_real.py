"""Export a tiny trained no_latency model and its prior; use the file without ravejobs.

Stated streaming tolerance: successive 2048-sample buffers through the exported model give the
whole-signal output within 1e-5 (absolute, audio in [-1, 1]) with noise synthesis off.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from test_export_helpers import fresh_python, streaming_point, write_take  # noqa: F401
from test_train_helpers import SR, corpus  # noqa: F401

from ravejobs.model import load_trained
from ravejobs.rundir import RunDir

TOLERANCE = 1e-5

SCRIPT = r"""
import json, sys
import numpy as np, soundfile as sf, torch
path, wav, out = sys.argv[1:4]
torch.manual_seed(0)
torch.set_num_threads(1)
load = lambda: torch.jit.load(path)
m = load()
x = torch.from_numpy(sf.read(wav, dtype='float32')[0]).reshape(1, 1, -1)
info = {k: int(getattr(m, k)) for k in ('sampling_rate', 'latent_size', 'max_batch_size',
                                        'forward_latency')}
info['methods'] = list(m.get_methods())
info['params'] = {k: getattr(m, k + '_params').tolist() for k in info['methods']}
info['streaming'] = bool(m.is_streaming())


def blocks(fn, sig, n):
    return torch.cat([fn(sig[..., i:i + n]) for i in range(0, sig.shape[-1], n)], -1)


def quiet(*mods):
    for mod in mods:
        mod.set_deterministic(True)
    return mods


with torch.inference_mode():
    z, f = m.encode(x), m.forward(x)
    y = m.decode(z)
    zp = m.prior(torch.full((1, 1, 10), 0.8))
    yp = m.decode(zp)
    info['shapes'] = {'x': list(x.shape), 'z': list(z.shape), 'y': list(y.shape),
                      'forward': list(f.shape), 'prior': list(zp.shape),
                      'prior_audio': list(yp.shape)}
    info['finite'] = all(bool(torch.isfinite(t).all()) for t in (z, y, f, zp, yp))
    info['peak'] = float(f.abs().max())
    a = x[..., :2048]
    info['noisy_differs'] = float((m.forward(a) - m.forward(a)).abs().max())
    info['encode_sampled'] = float((m.encode(a) - m.encode(a)).abs().max())
    info['cropped_latent_size'] = int(m.cropped_latent_size)
    # successive 2048-sample buffers against the whole signal, each on a fresh load
    whole, parts = quiet(load(), load())
    info['diff'] = {'forward': float((whole.forward(x) - blocks(parts.forward, x, 2048))
                                     .abs().max())}
    whole, parts = quiet(load(), load())
    zw = whole.encode(x)
    info['diff']['encode'] = float((zw - blocks(parts.encode, x, 2048)).abs().max())
    hop = int(m.encode_params[3])
    info['diff']['decode'] = float((whole.decode(zw) - blocks(parts.decode, zw, 2048 // hop))
                                   .abs().max())
np.save(out, zw.numpy())
print(json.dumps(info))
"""


@pytest.fixture(scope="module")
def exported(streaming_point, tmp_path_factory):  # noqa: F811
    """The export stage run on the trained point, through the stage runner every array task
    uses: (spec, model run, export run, summary)."""
    from ravejobs.jobs.runner import StageRunner

    spec, model_run, prior_run = streaming_point
    export_run = RunDir.for_spec(spec, "export")
    export_run.create(spec)
    summary = StageRunner("export", str(export_run.path))()
    return spec, model_run, export_run, summary


def test_export_job_writes_one_ts_with_prior_and_a_summary(exported):
    spec, model_run, export_run, summary = exported
    files = sorted(p.name for p in export_run.export.iterdir())
    assert files == [f"{model_run.name}-{model_run.signature}.ts", "summary.json"]
    assert export_run.name.startswith("05-EX-")
    on_disk = json.loads((export_run.export / "summary.json").read_text())
    assert on_disk == summary
    assert summary["streaming"] is True and summary["sampling_rate"] == SR
    assert set(summary["methods"]) == {"encode", "decode", "forward", "prior"}
    rave = load_trained(model_run)
    assert summary["model_step"] == rave.step == spec.phase.max_steps
    assert summary["prior"].endswith("prior.pt")
    state = export_run.state()
    assert state.status == "finished" and state.extra["file"] == summary["file"]


def test_exported_file_runs_on_real_audio_without_ravejobs(exported, tmp_path):
    spec, model_run, export_run, summary = exported
    wav = write_take(tmp_path / "take one.wav")
    out = tmp_path / "z.npy"
    info = fresh_python(SCRIPT, tmp_path, summary["file"], str(wav), str(out))

    rave = load_trained(model_run)
    k, hop = rave.latent_size, rave.hop
    n = sf.info(str(wav)).frames
    assert info["sampling_rate"] == SR and info["max_batch_size"] >= 1
    assert info["latent_size"] == k <= spec.model.latent_size  # cropped at fidelity 0.95
    assert info["methods"] == ["encode", "decode", "forward", "prior"]
    assert info["params"] == {"encode": [1, 1, k, hop], "decode": [k, hop, 1, 1],
                              "forward": [1, 1, 1, 1], "prior": [1, hop, k, hop]}
    assert info["streaming"] is True and info["forward_latency"] == 0   # no_latency model
    assert info["shapes"] == {"x": [1, 1, n], "z": [1, k, n // hop], "y": [1, 1, n],
                              "forward": [1, 1, n], "prior": [1, k, 10],
                              "prior_audio": [1, 1, 10 * hop]}
    assert info["finite"] and info["peak"] > 0
    assert info["noisy_differs"] > 0          # noise synthesis is on by default
    assert info["encode_sampled"] > 0         # encode samples the posterior (upstream)
    assert info["cropped_latent_size"] == k   # what upstream's prior script reads
    for method, diff in info["diff"].items():
        assert diff <= TOLERANCE, f"{method}: block-by-block differs by {diff}"

    # The file's latents are the model's: same PCA projection and crop as TrainedRAVE.encode.
    audio = torch.from_numpy(sf.read(str(wav), dtype="float32")[0]).reshape(1, 1, -1)
    expected = rave.encode(audio).numpy()
    assert np.allclose(np.load(out), expected, atol=1e-4)
