"""Audio written while a real tiny RAVE trains: input and reconstruction at each validation in
the run folder and TensorBoard, and a prior sample at the prior's end."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from test_export_helpers import trained_point
from test_train_helpers import corpus  # noqa: F401

from ravejobs import listening


def tb_audio_tags(folder) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"audio": 0})
    acc.Reload()
    return set(acc.Tags().get("audio", []))


def test_training_and_prior_write_audio_to_listen_to(tmp_path, corpus):  # noqa: F811
    spec, model_run, prior_run = trained_point(
        tmp_path / "root", corpus, "prior=demo", "prior.max_steps=2", "prior.n_frames=32",
        "train.val_every=3")
    # validations at steps 3, the VAE boundary, 6 and the end: the newest KEEP_STEPS kept
    steps = listening.steps(model_run.path)
    assert max(steps) == spec.phase.max_steps and len(steps) <= listening.KEEP_STEPS
    step, clips = listening.latest_clips(model_run.path)
    assert set(clips) == {"input", "recon"}
    x, sr = sf.read(clips["input"])
    y, _ = sf.read(clips["recon"])
    assert sr == spec.model.sr and len(x) == len(y) > 0
    assert np.abs(x).max() > 1e-3 and np.isfinite(y).all() and not np.array_equal(x, y)
    assert tb_audio_tags(model_run.tb) == {"input", "recon"}
    assert prior_run is not None
    pstep, pclips = listening.latest_clips(prior_run.path)
    assert pstep == 2 and set(pclips) == {"prior"}
    p, psr = sf.read(pclips["prior"])
    assert psr == spec.model.sr and len(p) > 0 and np.isfinite(p).all()
    assert "prior" in tb_audio_tags(prior_run.tb)
