"""Prior optimisation with exact resume: a plain loop, not Lightning, on purpose.

Everything a step depends on is a function of (seed, step): the batch (from `LatentWindows`)
and torch's RNG (re-seeded per step). The checkpoint holds parameters, optimiser state and the
step, so stopping at step k and resuming reproduces an uninterrupted run bit for bit on CPU.
A loop this small is easier to make exact, and to stop at a signal between steps, than a
Lightning Trainer (whose fit loop owns the step and the RNG).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ravejobs.atomic import atomic_torch_save
from ravejobs.config import PriorSpec
from ravejobs.diskfull import as_disk_full
from ravejobs.prior.latents import LatentWindows
from ravejobs.prior.model import Prior
from ravejobs.seeds import step_seed

CKPT_PATTERN = re.compile(r"^prior-(\d{9})\.pt$")


class PriorTrainer:
    """Owns the prior, its optimiser and the step counter."""

    def __init__(self, prior: Prior, windows: LatentWindows, spec: PriorSpec, seed: int = 0,
                 val_windows: LatentWindows | None = None):
        self.prior, self.windows, self.spec, self.seed = prior, windows, spec, seed
        self.val_windows = val_windows
        self.optimizer = torch.optim.Adam(prior.parameters(), lr=spec.lr, fused=True)
        self.step = 0

    @property
    def device(self) -> torch.device:
        return next(self.prior.parameters()).device

    def train_step(self) -> float:
        """One optimisation step on the batch of `self.step`; returns its loss."""
        torch.manual_seed(step_seed(self.seed, self.step))
        self.prior.train()
        z = torch.from_numpy(self.windows.batch(self.step, self.spec.batch)).to(self.device)
        loss = self.prior.loss(z)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def validate(self, n_batches: int = 4) -> float:
        if self.val_windows is None:
            raise ValueError("no validation windows given")
        self.prior.eval()
        losses = [float(self.prior.loss(torch.from_numpy(b).to(self.device)))
                  for b in self.val_windows.val_batches(n_batches, self.spec.batch)]
        self.prior.train()
        return float(np.mean(losses))

    def state_dict(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"step": self.step, "prior": self.prior.state_dict(),
                "optimizer": self.optimizer.state_dict(), "seed": self.seed,
                "latent_size": self.prior.latent_size, **(extra or {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"checkpoint was trained with seed {state['seed']}, this run uses "
                             f"seed {self.seed}; resuming would not be exact")
        self.prior.load_state_dict(state["prior"])
        self.optimizer.load_state_dict(state["optimizer"])  # follows the params' device
        self.step = int(state["step"])

    def save(self, folder: str | Path, keep: int = 2,
             extra: dict[str, Any] | None = None) -> Path:
        """Write `prior-<step>.pt` atomically, then prune all but the newest `keep`."""
        folder = Path(folder)
        path = folder / f"prior-{self.step:09d}.pt"
        try:
            atomic_torch_save(path, self.state_dict(extra))
        except Exception as err:
            full = as_disk_full(err, path)
            if full is not None:
                raise full from err
            raise
        for old in checkpoints(folder)[:-max(1, keep)]:
            old.unlink(missing_ok=True)
        return path


def checkpoints(folder: str | Path) -> list[Path]:
    """Prior checkpoints in a folder, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if CKPT_PATTERN.match(p.name))


def newest_valid(folder: str | Path, log: Callable[[str], None] = print
                 ) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads; unreadable ones are reported and skipped."""
    for path in reversed(checkpoints(folder)):
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(state, dict) or "prior" not in state or "step" not in state:
                raise ValueError("not a prior checkpoint")
        except Exception as err:  # noqa: BLE001 - any unreadable file is skipped the same way
            log(f"skipping unreadable checkpoint {path}: {err}")
            continue
        return path, state
    return None
