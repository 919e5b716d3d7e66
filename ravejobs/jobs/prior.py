"""The prior stage: encode the corpus once with a trained RAVE, then train its latent prior.

A plain stage object for the runner (`jobs/runner.py`), which owns header, footer, state and
requeue: on submitit's time-limit signal (USR2, held to the step boundary) the runner calls
`save` and requeues under the same job id; a new start resumes from the newest readable
checkpoint at the exact step. Run by hand, SIGTERM or Ctrl-C saves after the current step and
stops (exit code 3); running it again resumes.

    python -m ravejobs.jobs.prior RUN_DIR
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ravejobs import trained_run
from ravejobs.config import RunSpec
from ravejobs.errors import StageRefused
from ravejobs.metrics import MetricsWriter
from ravejobs.prior.latents import (
    LatentStore,
    LatentWindows,
    ModelRef,
    ensure_store,
    packed_sources,
)
from ravejobs.prior.model import Prior, save_prior
from ravejobs.prior.train import PriorTrainer, newest_valid
from ravejobs.rundir import RunDir
from ravejobs.stepsignals import StepBoundarySignals

if TYPE_CHECKING:
    from ravejobs.jobs.runner import Cadence

VAL_BATCHES = 4


class PriorRefused(StageRefused):
    """The model cannot carry a prior (missing, or never reached the adversarial phase)."""


def log(message: str) -> None:
    print(f"[prior] {message}", flush=True)


def model_ref_of(model: Any, model_run: RunDir) -> ModelRef:
    return ModelRef(checkpoint=str(model.checkpoint_path), step=int(model.step),
                    signature=model_run.signature)


def corpus(spec: RunSpec) -> Any:
    """The packed corpus, staged to node-local disk when there is room."""
    from ravejobs.data.stage import stage_store
    from ravejobs.data.store import PackedStore

    return PackedStore(stage_store(spec.dataset.packed, log=log))


class PriorJob:
    """The prior stage for the runner: restored once its trainer holds the checkpoint's state."""

    def __init__(self, run: RunDir):
        self.run_dir = run
        self._trainer: PriorTrainer | None = None
        self._extra: dict[str, Any] = {}

    @property
    def step(self) -> int | None:
        return self._trainer.step if self._trainer is not None else None

    @property
    def restored(self) -> bool:
        return self._trainer is not None

    def save(self, reason: str) -> dict[str, Any]:
        """Write `last.ckpt` (the one checkpoint scheme); the runner records it."""
        assert self._trainer is not None
        run = self.run_dir
        path = self._trainer.save(run.checkpoints, run.spec().train.keep_last, self._extra)
        log(f"saved {path.name} at step {self._trainer.step} ({reason})")
        return {"checkpoint": str(path), "step": self._trainer.step}

    def run(self, signals: StepBoundarySignals, cadence: Cadence) -> dict[str, Any]:
        """Train; `cadence` is the runner's (when to save, and what state.json records)."""
        run = self.run_dir
        return self._run(run, run.spec(), signals, cadence)

    # ------------------------------------------------------------------ work

    def _run(self, run: RunDir, spec: RunSpec, signals: StepBoundarySignals,
             cadence: Cadence) -> dict[str, Any]:
        p = spec.prior
        if not p.enabled:
            raise PriorRefused(f"{run.path}: prior=none in spec.json; nothing to train")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model_run = RunDir.for_spec(spec, "train")
        model = trained_run.load_model(model_run, "prior", PriorRefused, device)
        ref = model_ref_of(model, model_run)
        resume = newest_valid(run.checkpoints, log=log)
        made_by = resume[1].get("model") if resume else None
        if resume and (not made_by or not ModelRef(**made_by).same_model(ref)):
            raise PriorRefused(
                f"{resume[0]} was trained on latents of {made_by}, but the model "
                f"is now {asdict(ref)}; move {run.checkpoints} aside to train a new prior")
        log(f"model {model_run.name}: {ref.checkpoint} (step {ref.step}, phase {model.phase}, "
            f"{model.latent_size} latent dims, hop {model.hop}, {model.sr} Hz)")
        run.update_state(phase="prior", max_steps=p.max_steps, extra={"model": asdict(ref)})

        packed = corpus(spec)
        if packed.sr != model.sr:
            raise PriorRefused(f"corpus {spec.dataset.packed} is at {packed.sr} Hz but model "
                               f"{model_run.name} runs at {model.sr} Hz; prepare it again")
        store = ensure_store(run.path / "latents", model, ref, lambda: packed_sources(packed),
                             corpus=packed.fingerprint, chunk=spec.model.n_signal,
                             batch=spec.model.batch, log=log, device=device)
        del model   # the encoder is done; the prior trains from the store alone
        return self._train(run, spec, store, ref, resume, device, signals, cadence)

    def _train(self, run: RunDir, spec: RunSpec, store: LatentStore, ref: ModelRef,
               resume: tuple[Path, dict[str, Any]] | None, device: str,
               signals: StepBoundarySignals, cadence: Cadence) -> dict[str, Any]:
        p, t = spec.prior, spec.train
        if p.n_frames <= store.latent_size:
            raise ValueError(
                f"prior.n_frames={p.n_frames}: the diagonal shift needs more frames than the "
                f"model's {store.latent_size} latent dimensions; set prior.n_frames to at least "
                f"{max(2 * store.latent_size, store.latent_size + 1)}")
        windows = LatentWindows.from_store(store, p.n_frames, "train", t.val_fraction, spec.seed)
        val = LatentWindows.from_store(store, p.n_frames, "val", t.val_fraction, spec.seed)
        torch.manual_seed(spec.seed)
        prior = Prior.from_spec(p, store.latent_size).to(device)
        trainer = PriorTrainer(prior, windows, p, spec.seed, val)
        self._extra = {"model": asdict(ref), "latents": str(store.folder)}
        if resume:
            trainer.load_state_dict(resume[1])
            log(f"resumed from {resume[0]} at step {trainer.step}")
        cadence.start(trainer.step)  # the step its checkpoint holds; the clock starts now
        self._trainer = trainer  # restored: from here the runner may have it save

        metrics = MetricsWriter(run.metrics_file)
        log_every, val_every = max(1, t.log_every), max(1, t.val_every)
        last_log, losses = time.monotonic(), []
        logged_at, val_loss = trainer.step, float("nan")
        try:  # the runner installed `signals`: SIGTERM / SIGINT set its stop_reason
            while trainer.step < p.max_steps and not signals.stop_reason:
                with signals.step():   # USR2 (time limit) is handled after the step
                    losses.append(trainer.train_step())
                    step, final = trainer.step, trainer.step == p.max_steps
                    if step % log_every == 0 or final:
                        now = time.monotonic()
                        rate = (step - logged_at) / max(now - last_log, 1e-9)
                        metrics.log(step, {"prior_loss": sum(losses) / len(losses),
                                           "steps_per_s": rate})
                        losses, logged_at, last_log = [], step, now
                    if step % val_every == 0 or final:
                        val_loss = trainer.validate(VAL_BATCHES)
                        metrics.log(step, {"prior_val_loss": val_loss})
                    cadence.boundary(step, final=final)
        finally:
            metrics.close()
        if signals.stop_reason:   # it may have come at any point of the last step: save now
            cadence.save(signals.stop_reason, trainer.step)
            return {"reason": signals.stop_reason, "step": trainer.step,
                    "checkpoint": run.state().checkpoint}

        final_file = save_prior(run.path / "prior.pt", trainer.prior, model=asdict(ref),
                                step=trainer.step, sr=store.meta.sr, hop=store.meta.hop)
        from ravejobs.jobs.listen import prior_audio

        prior_audio(run, spec, trainer.prior, trainer.step, device, log)   # a sample decoded
        if val_loss != val_loss:   # resumed after the last step: measure it for the summary
            val_loss = trainer.validate(VAL_BATCHES)
        run.update_state(step=trainer.step, message="",
                         extra={"model": asdict(ref), "latents": str(store.folder),
                                "prior": str(final_file), "prior_val_loss": val_loss})
        return {"reason": "finished", "step": trainer.step, "steps": trainer.step,
                "prior_val_loss": val_loss, "prior": str(final_file),
                "model_checkpoint": ref.checkpoint, "model_step": ref.step}


def main(argv: list[str] | None = None) -> int:
    from ravejobs.jobs.runner import by_hand

    return by_hand("prior", argv)


if __name__ == "__main__":
    sys.exit(main())
