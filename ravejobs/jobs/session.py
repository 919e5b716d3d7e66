"""One training run on one node: Lightning trainer, exact data order, checkpoints, metrics.

The session owns what must survive a requeue. Batches come from `sampler.batch(step)` with
the model's stored step, torch is reseeded at every step, and the checkpoint carries weights,
both optimizers, the step and the fidelity PCA, so a run resumed from any checkpoint computes
bit for bit what an uninterrupted run computes (on CPU; GPUs add their own nondeterminism).

Batches and data seeds: `jobs/stepdata.py`; devices and ranks (DDP): `jobs/devices.py`. Rank 0
alone validates, computes the fidelity PCA, writes metrics and saves (through the runner's
cadence); the others wait for it at the next gradient sync.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ravejobs.config import RunSpec
from ravejobs.jobs.devices import device_setup, share_buffers
from ravejobs.jobs.lightning_step import LightningStep
from ravejobs.jobs.runner import Cadence
from ravejobs.jobs.stepdata import StepData, data_seed
from ravejobs.metrics import MetricsWriter
from ravejobs.model import checkpoints
from ravejobs.model.module import RAVE
from ravejobs.model.phases import beta_at
from ravejobs.model.v2 import build_model
from ravejobs.rundir import RunDir
from ravejobs.stepsignals import StepBoundarySignals

MAX_ROLLBACKS = 3  # divergences survived by rolling back before the run stops as diverged


class TrainSession:
    """Train `spec` in `run` from its newest valid checkpoint up to phase.max_steps."""

    def __init__(self, spec: RunSpec, run: RunDir, train: Any, val: Any, *,
                 hardware: dict[str, Any] | None = None, callbacks: Sequence[pl.Callback] = (),
                 stop_at: int | None = None, log: Callable[[str], Any] = print,
                 signals: StepBoundarySignals | None = None, cadence: Cadence):
        self.spec, self.run_dir, self.train, self.log = spec, run, train, log
        self.max_steps = spec.phase.max_steps
        self.hardware = hardware or device_setup()
        self.callbacks, self.stop_at = list(callbacks), stop_at
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)  # same initial weights for the same seed
            self.model: RAVE = build_model(spec.model, spec.phase.warmup, spec.kl, spec.seed)
        self.phases = self.model.phases
        self.optimizer_states: list[dict[str, Any]] | None = None
        self.resumed_from: Path | None = None
        self.rollbacks = 0
        self.pending: dict[str, float] = {}
        found = checkpoints.newest_valid(run.checkpoints)
        if found is not None:
            path, meta = found
            if meta["signature"] != run.signature:
                raise ValueError(f"{path}: checkpoint of run {meta['signature']}, not of "
                                 f"{run.signature}; move it away or use its own run folder")
            ckpt = checkpoints.read(path, lazy=False)
            assert ckpt is not None
            self.model.load_state_dict(ckpt["state_dict"])
            self.model.step = ckpt["step"]
            self.optimizer_states = ckpt["optimizers"]
            self.resumed_from = path
            self.reseed(ckpt.get("rollbacks", 0))
            log(f"train: resuming from {path} at step {ckpt['step']} "
                f"(phase {self.phases.next(ckpt['step'])})")
        self.val = val  # upstream validates on the whole validation split
        self.trainer: pl.Trainer | None = None
        # False until `begin` has put the optimizer states back: a save before that would write
        # blank (or no) optimizer states over a good checkpoint (a requeue during setup).
        self.restored = False
        self.stop_at_reason = ""
        self.checkpoint_path = str(self.resumed_from or "")
        self.step_on_disk = True  # the step it starts at is its checkpoint's (or step 0)
        # the runner's (installed around the whole stage); a plain one when run on its own
        self.signals = signals or StepBoundarySignals()
        self.cadence = cadence  # the runner's: when to save, and recording what was saved
        self.metrics: MetricsWriter | None = None
        self.tb: Any = None

    # ------------------------------------------------------------------ control
    @property
    def step(self) -> int:
        return self.model.step

    @property
    def stop_reason(self) -> str:
        """Why to save and stop after this step: SIGTERM / SIGINT by hand, or `stop_at`."""
        return self.signals.stop_reason or self.stop_at_reason

    @property
    def is_main(self) -> bool:
        return self.trainer is None or self.trainer.global_rank == 0

    def save(self, reason: str) -> dict[str, Any] | None:
        """Write `last.ckpt` now (the runner's cadence calls it at a step boundary, once the
        optimizer states are back); the state.json fields of it, None on other ranks."""
        if not self.is_main or self.trainer is None or not self.restored:
            return None
        path = checkpoints.save_rolling(self.run_dir.checkpoints, self.payload(reason),
                                        self.spec.train.keep_last)
        self.checkpoint_path = str(path)
        if self.tb is not None:
            self.tb.flush()
        self.log(f"train: saved {path.name} at step {self.step} ({reason})")
        return {"checkpoint": str(path), "step": self.step, "phase": self.phases.after(self.step)}

    def payload(self, reason: str) -> dict[str, Any]:
        m, s = self.model, self.step
        assert self.trainer is not None
        return {
            "format": checkpoints.FORMAT,
            "step": s,
            "phase": self.phases.after(s),  # the phase the weights come from
            "next_phase": self.phases.next(s),
            "warmup": self.phases.warmup,
            "max_steps": self.max_steps,
            "beta": beta_at(self.spec.kl, max(s - 1, 0)),
            "fidelity": {"computed_at": int(m.fidelity.computed_at), **m.fidelity.sizes()},
            "state_dict": {k: v.detach().cpu() for k, v in m.state_dict().items()},
            "optimizers": [o.state_dict() for o in self.trainer.optimizers],
            "spec": self.spec.to_dict(),
            "rollbacks": self.rollbacks,
            "signature": self.run_dir.signature,
            "reason": reason,
            "saved_at": time.time(),
        }

    # ------------------------------------------------------------------ the run
    def run(self) -> dict[str, Any]:
        start = self.step
        if start >= self.max_steps:
            self.log(f"train: already at step {start} of {self.max_steps}; nothing to do")
            return self.summary(start, "finished")
        while True:
            reason = self.fit()
            if reason != "diverged":
                return self.summary(start, reason)
            if self.rollbacks >= MAX_ROLLBACKS:
                self.log(f"train: diverged again ({self.model.diverged}) after "
                         f"{self.rollbacks} rollbacks; stopping")
                return self.summary(start, "diverged")
            self.rollback()

    def fit(self) -> str:
        """One Lightning fit from the current step; how it ended."""
        hw = self.hardware
        from ravejobs.jobs.quiet import quiet_lightning

        quiet_lightning()
        self.trainer = pl.Trainer(
            accelerator=hw["accelerator"], devices=hw["devices"], strategy=hw["strategy"],
            num_nodes=hw.get("num_nodes", 1),
            # BatchNorm statistics over the global batch, as one process would compute them
            # (torch synchronises BatchNorm on GPUs only)
            sync_batchnorm=hw["accelerator"] == "gpu"
            and hw.get("num_nodes", 1) * hw["devices"] > 1,
            plugins=hw.get("plugins", []), precision=self.spec.train.precision,
            max_epochs=1, max_steps=-1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=0, use_distributed_sampler=False,
            default_root_dir=str(self.run_dir.path),
            callbacks=[_Loop(self), *self.callbacks],
        )
        own = not self.signals.installed  # the runner installs before fit, else we do here
        if own:
            self.signals.install()  # before fit, so Lightning chains our SIGTERM handler
        try:
            self.trainer.fit(LightningStep(self.model), datamodule=StepData(self))
        except SIGTERMException:
            if not self.stop_reason:
                raise
            self.cadence.save(self.stop_reason, self.step)  # after our check: still a boundary
        finally:
            if own:
                self.signals.uninstall()
        if self.model.diverged:
            return "diverged"
        if self.step >= self.max_steps:
            return "finished"
        return self.stop_reason or "stopped"

    def reseed(self, rollbacks: int) -> None:
        """Data order and step noise of the `rollbacks`-th attempt (kept in checkpoints)."""
        self.rollbacks = rollbacks
        seed = data_seed(self.spec.seed, rollbacks)
        self.train.seed = seed
        self.model.seed = seed

    def rollback(self) -> None:
        """Back to the newest checkpoint (or the initial weights) with a new data order."""
        line = self.model.diverged
        found = checkpoints.newest_valid(self.run_dir.checkpoints)
        if found is not None:
            ckpt = checkpoints.read(found[0], lazy=False)
            assert ckpt is not None
            self.model.load_state_dict(ckpt["state_dict"])
            self.model.step = ckpt["step"]
            self.optimizer_states = ckpt["optimizers"]
            where = f"{found[0].name} (step {ckpt['step']})"
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.spec.seed)
                fresh = RAVE(self.spec.model, self.phases.warmup, self.spec.kl, self.spec.seed)
            self.model.load_state_dict(fresh.state_dict())
            self.model.step = 0
            self.optimizer_states = None
            where = "the initial weights (no checkpoint yet)"
        self.model.encoder.requires_grad_(True)  # begin() freezes it again past warmup
        self.restored = False  # no save until begin() has put the optimizer states back
        self.step_on_disk = False  # its checkpoint has the old data order: save this step again
        self.model.diverged = ""
        self.reseed(self.rollbacks + 1)
        self.log(f"train: diverged ({line}); rollback {self.rollbacks} of {MAX_ROLLBACKS} to "
                 f"{where} with a new data order")
        self.pending["rollback"] = float(self.rollbacks)  # written when metrics reopen
        if self.is_main:
            self.run_dir.update_state(message=f"rollback {self.rollbacks}: {line}")

    def summary(self, start: int, reason: str) -> dict[str, Any]:
        return {"reason": reason, "start_step": start, "step": self.step,
                "max_steps": self.max_steps, "phase": self.phases.after(self.step),
                "checkpoint": self.checkpoint_path, "rollbacks": self.rollbacks,
                "resumed_from": str(self.resumed_from or "")}

    # ------------------------------------------------------------------ per step
    def begin(self, trainer: pl.Trainer) -> None:
        self.trainer = trainer
        self.model.rank = trainer.global_rank
        if self.optimizer_states is not None:
            for opt, state in zip(trainer.optimizers, self.optimizer_states, strict=True):
                opt.load_state_dict(state)
        self.restored = True
        if self.phases.encoder_frozen(self.step):
            self.model.freeze_encoder()
        # the step its checkpoint holds (not after a rollback); the clock starts now
        self.cadence.start(self.step if self.step_on_disk else None)
        self.step_on_disk = True
        self.logged_at = time.monotonic()
        self.logged_step = self.step
        if self.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.metrics = MetricsWriter(self.run_dir.metrics_file)
            self.tb = SummaryWriter(str(self.run_dir.tb))
            if self.pending:
                self.write(self.pending)
                self.pending = {}
            # the runner set status and `started`; step stays the resumed checkpoint's
            self.run_dir.update_state(step=self.step, max_steps=self.max_steps,
                                      phase=self.phases.next(self.step))

    def end(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def write(self, values: dict[str, float]) -> None:
        if self.metrics is None:
            return
        self.metrics.log(self.step, values)
        for key, value in values.items():
            self.tb.add_scalar(key, value, self.step)

    def after_step(self, trainer: pl.Trainer) -> None:
        if self.model.diverged:  # nothing reached the weights; run() rolls back
            trainer.should_stop = True
            return
        s, t, boundary = self.step, self.spec.train, self.phases.vae_ends(self.step)
        if s % t.log_every == 0 or s == self.max_steps or boundary:
            now = time.monotonic()
            rate = (s - self.logged_step) / max(now - self.logged_at, 1e-9)
            self.logged_at, self.logged_step = now, s
            keys = ("distance", "beta", "loss_gen", "loss_dis", "feature_matching", "kl")
            values = {k: float(self.model.logs[k]) for k in keys if k in self.model.logs}
            values.update(steps_per_s=rate, phase=float(self.phases.after(s) == "gan"))
            self.write(values)  # state.json's step moves only with its checkpoint (save)
        if s % t.val_every == 0 or boundary or s == self.max_steps:
            self.validate(s)
        if boundary and self.is_main:
            path = checkpoints.save_phase_end(self.run_dir.checkpoints,
                                              self.payload("end of VAE phase"))
            self.log(f"train: VAE phase done at step {s}: {path.name}; adversarial phase next")
        if self.stop_at is not None and s >= self.stop_at:
            self.stop_at_reason = f"stop_at={self.stop_at}"
        final = s >= self.max_steps
        self.cadence.boundary(s, final=final, milestone=boundary, stop=self.stop_reason)
        if final or self.stop_reason:
            trainer.should_stop = True

    def validate(self, s: int) -> None:
        if not self.is_main:
            return  # once per run: the weights are the same on every rank
        batches = (torch.from_numpy(b) for b in self.val.split_batches(self.spec.model.batch))
        distance, means = self.model.validate(batches)
        values = {"validation": distance, **self.model.val_extras}
        if self.phases.fits_fidelity(s) and self.model.fidelity.update(means, s):
            values.update({k: float(v) for k, v in self.model.fidelity.sizes().items()})
        self.write(values)
        from ravejobs.jobs.listen import validation_audio  # clips to listen to (jobs/listen.py)

        validation_audio(self, s)


class _Loop(pl.Callback):
    def __init__(self, session: TrainSession):
        self.session = session

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.session.begin(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self.session.signals.enter_step()
        if trainer.world_size > 1:
            share_buffers(self.session.model)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        try:
            self.session.after_step(trainer)
        finally:
            self.session.signals.leave_step()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.session.end()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        self.session.end()
