"""Audio a training leaves to listen to, written at each validation (train) and at the end
(prior): a few seconds of held-out input and its reconstruction, and a prior sample decoded.

The files go to `<run>/audio/` (ravejobs.listening: names, pruning, atomic writes) and to
TensorBoard's audio tab. Listening is never worth a run: a failure here prints one line and
training goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from ravejobs import listening

PRIOR_FRAMES = 256   # at most this many latent frames per prior sample


def _say(log: Callable[[str], Any], what: str, err: Exception) -> None:
    log(f"audio: could not write {what} ({type(err).__name__}: {err}); training goes on")


@torch.no_grad()
def reconstruction(model: Any, batches: Iterable[torch.Tensor]) -> dict[str, np.ndarray]:
    """Held-out windows back to back (up to listening.SECONDS) and the model's reconstruction
    of them from the latent means, as validation measures it."""
    sr = model.cfg.sr
    windows, total = [], 0
    for batch in batches:
        for window in batch:
            windows.append(window)
            total += window.shape[-1]
            if total >= listening.SECONDS * sr:
                break
        if total >= listening.SECONDS * sr:
            break
    if not windows:
        return {}
    was_training = model.training
    model.eval()
    try:
        # the decoder's noise is seeded here and leaves training's generator alone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(model.seed)
            x = torch.stack(windows).to(model.device).unsqueeze(1)          # B 1 T
            mean = model.encoder(model.analyse(x))[0]
            y = model.decode(mean, add_noise=model.phases.encoder_frozen(model.step))
    finally:
        model.train(was_training)
        if model.phases.encoder_frozen(model.step):
            model.freeze_encoder()
    return {"input": x.float().cpu().reshape(-1).numpy(),
            "recon": y.float().cpu().reshape(-1).numpy()}


def validation_audio(session: Any, step: int) -> None:
    """Hook for the train session's validation (main process only)."""
    try:
        # the first held-out windows of the validation split (read lazily, batch by batch)
        batches = (torch.from_numpy(b) for b in session.val.split_batches(session.spec.model.batch))
        clips = reconstruction(session.model, batches)
        if not clips:
            return
        sr = session.model.cfg.sr
        listening.write_clips(session.run_dir.path, step, clips, sr)
        if session.tb is not None:
            for kind, samples in clips.items():
                session.tb.add_audio(kind, torch.from_numpy(samples[: int(
                    listening.SECONDS * sr)]).unsqueeze(0), step, sample_rate=sr)
    except Exception as err:  # noqa: BLE001 - see the module docstring
        _say(session.log, f"validation audio at step {step}", err)


def prior_audio(run: Any, spec: Any, prior: Any, step: int, device: str,
                log: Callable[[str], Any] = print) -> None:
    """Hook for the prior stage's end: a sample of the prior, decoded by its model."""
    try:
        from ravejobs.errors import StageRefused
        from ravejobs.prior.model import sample
        from ravejobs.rundir import RunDir
        from ravejobs.trained_run import load_model

        model = load_model(RunDir.for_spec(spec, "train"), "prior", StageRefused, device)
        # the prior samples one frame at a time: a few hundred frames keep this to seconds
        frames = max(1, min(PRIOR_FRAMES, int(listening.SECONDS * model.sr / model.hop)))
        generator = torch.Generator(device=device).manual_seed(spec.seed)
        with torch.no_grad():
            z = sample(prior, frames, temperature=1.0, generator=generator)
            audio = model.decode(z.to(device)).float().cpu().reshape(-1).numpy()
        listening.write_clips(run.path, step, {"prior": audio}, model.sr)
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(run.tb)) as tb:
            tb.add_audio("prior", torch.from_numpy(audio).unsqueeze(0), step,
                         sample_rate=model.sr)
    except Exception as err:  # noqa: BLE001 - see the module docstring
        _say(log, f"a prior sample at step {step}", err)
