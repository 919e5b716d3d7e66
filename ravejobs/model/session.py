"""One training run on one node: Lightning trainer, exact data order, checkpoints, metrics.

The session owns what must survive a requeue. Batches come from `sampler.batch(step)` with
the model's stored step, torch is reseeded at every step, and the checkpoint carries weights,
both optimizers, the step and the fidelity PCA, so a run resumed from any checkpoint computes
bit for bit what an uninterrupted run computes (on CPU; GPUs add their own nondeterminism).

Multi-GPU: with more than one device (CUDA devices off SLURM, or SLURM tasks per node under
SLURM) Lightning runs DDP with the same config; rank r at step s trains on sampler batch
s * world + r, so each rank sees different windows and the effective batch is world x batch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ravejobs.config import RunSpec
from ravejobs.metrics import MetricsWriter
from ravejobs.model import checkpoints
from ravejobs.model.module import RAVE
from ravejobs.rundir import RunDir
from ravejobs.stepsignals import StepBoundarySignals

VAL_BATCHES = 4  # validation windows per validation: VAL_BATCHES x batch


class StepBatches(IterableDataset):
    """(step, batch) for step in [start, stop); workers split steps round-robin, in order."""

    def __init__(self, sampler: Any, start: int, stop: int, batch: int, rank: int = 0,
                 world: int = 1):
        self.sampler, self.start, self.stop, self.batch = sampler, start, stop, batch
        self.rank, self.world = rank, world

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for s in range(self.start + wid, self.stop, nw):
            yield s, torch.from_numpy(self.sampler.batch(s * self.world + self.rank, self.batch))


class _StepData(pl.LightningDataModule):
    def __init__(self, session: TrainSession):
        super().__init__()
        self.session = session

    def train_dataloader(self) -> DataLoader:
        s, trainer = self.session, self.trainer
        data = StepBatches(s.train, s.model.step, s.max_steps, s.spec.model.batch,
                           trainer.global_rank, trainer.world_size)
        workers = s.spec.train.num_workers if trainer.accelerator.__class__.__name__ not in (
            "CPUAccelerator",) else 0
        return DataLoader(data, batch_size=None, num_workers=workers,
                          pin_memory=workers > 0, persistent_workers=False)


def device_setup() -> dict[str, Any]:
    """Accelerator, devices, strategy and plugins for this node (see module docstring)."""
    on_slurm = "SLURM_JOB_ID" in os.environ
    plugins = [SLURMEnvironment(auto_requeue=False)] if on_slurm else []
    if not torch.cuda.is_available():
        return {"accelerator": "cpu", "devices": 1, "strategy": "auto", "plugins": plugins}
    devices = int(os.environ.get("SLURM_NTASKS_PER_NODE", "1")) if on_slurm else \
        torch.cuda.device_count()
    # Unused-parameter search: generator and discriminator steps alternate, and the encoder
    # and noise branch sit out whole phases, so DDP must not expect every gradient each step.
    strategy = "ddp_find_unused_parameters_true" if devices > 1 else "auto"
    return {"accelerator": "gpu", "devices": devices, "strategy": strategy, "plugins": plugins}


class TrainSession:
    """Train `spec` in `run` from its newest valid checkpoint up to phase.max_steps."""

    def __init__(self, spec: RunSpec, run: RunDir, train: Any, val: Any, *,
                 hardware: dict[str, Any] | None = None, callbacks: Sequence[pl.Callback] = (),
                 stop_at: int | None = None, log: Callable[[str], Any] = print):
        self.spec, self.run_dir, self.train, self.log = spec, run, train, log
        self.max_steps, self.warmup = spec.phase.max_steps, spec.phase.warmup
        self.hardware = hardware or device_setup()
        self.callbacks, self.stop_at = list(callbacks), stop_at
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)  # same initial weights for the same seed
            self.model = RAVE(spec.model, spec.phase.warmup, spec.kl, spec.seed)
        self.optimizer_states: list[dict[str, Any]] | None = None
        self.resumed_from: Path | None = None
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
            log(f"train: resuming from {path} at step {ckpt['step']} "
                f"(phase {self.model.phase_at(ckpt['step'])})")
        self.val_batches = [torch.from_numpy(b) for b in
                            val.val_batches(VAL_BATCHES, spec.model.batch)]
        self.trainer: pl.Trainer | None = None
        # False until `begin` has put the optimizer states back: a save before that would write
        # blank (or no) optimizer states over a good checkpoint (a requeue during setup).
        self.restored = False
        self.stop_reason = ""
        self.last_saved_step = -1
        self.checkpoint_path = str(self.resumed_from or "")
        self.signals = StepBoundarySignals(self.request_stop)
        self.metrics: MetricsWriter | None = None
        self.tb: Any = None

    # ------------------------------------------------------------------ control
    @property
    def step(self) -> int:
        return self.model.step

    def request_stop(self, reason: str) -> None:
        """Save and stop after the current step (SIGTERM / SIGINT by hand)."""
        self.stop_reason = reason

    @property
    def is_main(self) -> bool:
        return self.trainer is None or self.trainer.global_rank == 0

    def save(self, reason: str) -> str:
        """Write `last.ckpt` now; call only at a step boundary. Returns the path."""
        if not self.is_main or self.trainer is None:
            return self.checkpoint_path
        if not self.restored:
            self.log(f"train: not saving at step {self.step} ({reason}): optimizer states are "
                     f"not restored yet; {self.checkpoint_path or 'no checkpoint'} stays")
            return self.checkpoint_path
        if self.last_saved_step == self.step:
            return self.checkpoint_path
        path = checkpoints.save_rolling(self.run_dir.checkpoints, self.payload(reason),
                                        self.spec.train.keep_last)
        self.checkpoint_path, self.last_saved_step = str(path), self.step
        self.saved_at = time.monotonic()
        self.run_dir.update_state(checkpoint=str(path), step=self.step,
                                  phase=self.model.phase_at(max(self.step - 1, 0)))
        if self.tb is not None:
            self.tb.flush()
        self.log(f"train: saved {path.name} at step {self.step} ({reason})")
        return str(path)

    def payload(self, reason: str) -> dict[str, Any]:
        m, s = self.model, self.step
        assert self.trainer is not None
        return {
            "format": checkpoints.FORMAT,
            "step": s,
            "phase": "gan" if s > self.warmup else "vae",  # the phase the weights come from
            "next_phase": m.phase_at(s),
            "warmup": self.warmup,
            "max_steps": self.max_steps,
            "beta": self.spec.kl.beta_at(max(s - 1, 0)),
            "fidelity": {"computed_at": int(m.fidelity.computed_at), **m.fidelity.sizes()},
            "state_dict": {k: v.detach().cpu() for k, v in m.state_dict().items()},
            "optimizers": [o.state_dict() for o in self.trainer.optimizers],
            "spec": self.spec.to_dict(),
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
        hw = self.hardware
        self.trainer = pl.Trainer(
            accelerator=hw["accelerator"], devices=hw["devices"], strategy=hw["strategy"],
            plugins=hw.get("plugins", []), precision=self.spec.train.precision,
            max_epochs=1, max_steps=-1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=0, use_distributed_sampler=False,
            default_root_dir=str(self.run_dir.path),
            callbacks=[_Loop(self), *self.callbacks],
        )
        self.signals.install()  # before fit, so Lightning chains our SIGTERM handler
        try:
            self.trainer.fit(self.model, datamodule=_StepData(self))
        except SIGTERMException:
            if not self.stop_reason:
                raise
            self.save(self.stop_reason)  # signal came after our boundary check: still a boundary
        finally:
            self.signals.uninstall()
        if self.step >= self.max_steps:
            reason = "finished"
        else:
            reason = self.stop_reason or "stopped"
        return self.summary(start, reason)

    def summary(self, start: int, reason: str) -> dict[str, Any]:
        return {"reason": reason, "start_step": start, "step": self.step,
                "max_steps": self.max_steps, "phase": self.model.phase_at(max(self.step - 1, 0)),
                "checkpoint": self.checkpoint_path,
                "resumed_from": str(self.resumed_from or "")}

    # ------------------------------------------------------------------ per step
    def begin(self, trainer: pl.Trainer) -> None:
        self.trainer = trainer
        self.model.rank = trainer.global_rank
        if self.optimizer_states is not None:
            for opt, state in zip(trainer.optimizers, self.optimizer_states, strict=True):
                opt.load_state_dict(state)
        self.restored = True
        if self.step >= self.warmup:
            self.model.freeze_encoder()
        self.saved_at = self.logged_at = time.monotonic()
        self.logged_step = self.step
        if self.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.metrics = MetricsWriter(self.run_dir.metrics_file)
            self.tb = SummaryWriter(str(self.run_dir.tb))
            state = self.run_dir.state()
            self.run_dir.update_state(status="running", step=self.step,
                                      max_steps=self.max_steps,
                                      started=state.started or time.time(),
                                      phase=self.model.phase_at(self.step))

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
        s, t = self.step, self.spec.train
        if s % t.log_every == 0 or s == self.max_steps or s == self.warmup:
            now = time.monotonic()
            rate = (s - self.logged_step) / max(now - self.logged_at, 1e-9)
            self.logged_at, self.logged_step = now, s
            keys = ("distance", "beta", "loss_gen", "loss_dis", "feature_matching", "kl")
            values = {k: float(self.model.logs[k]) for k in keys if k in self.model.logs}
            values.update(steps_per_s=rate, phase=float(s > self.warmup))
            self.write(values)  # state.json's step moves only with its checkpoint (save)
        if s % t.val_every == 0 or s == self.warmup or s == self.max_steps:
            self.validate(s)
        if s == self.warmup and self.is_main:
            path = checkpoints.save_phase_end(self.run_dir.checkpoints,
                                              self.payload("end of VAE phase"))
            self.log(f"train: VAE phase done at step {s}: {path.name}; adversarial phase next")
        elapsed = time.monotonic() - self.saved_at
        due = (s % t.checkpoint_every_steps == 0 or s == self.warmup
               or elapsed >= t.checkpoint_every_minutes * 60)
        if s >= self.max_steps:
            self.save("finished")
            trainer.should_stop = True
        elif self.stop_reason or (self.stop_at is not None and s >= self.stop_at):
            self.stop_reason = self.stop_reason or f"stop_at={self.stop_at}"
            self.save(self.stop_reason)
            trainer.should_stop = True
        elif due:
            self.save("periodic")

    def validate(self, s: int) -> None:
        distance, means = self.model.validate(self.val_batches)
        values = {"validation": distance}
        if s <= self.warmup and self.model.fidelity.update(means, s):
            values.update({k: float(v) for k, v in self.model.fidelity.sizes().items()})
        self.write(values)


class _Loop(pl.Callback):
    def __init__(self, session: TrainSession):
        self.session = session

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.session.begin(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self.session.signals.enter_step()

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
