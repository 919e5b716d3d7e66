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

from ravejobs import checkpoint_files as files
from ravejobs.config import PriorSpec
from ravejobs.prior.latents import LatentWindows
from ravejobs.prior.model import Prior
from ravejobs.seeds import step_seed

FORMAT = "ravejobs.prior/1"
REQUIRED = ("step", "prior", "optimizer", "seed")
LEGACY_NAME = re.compile(r"^prior-(\d{9})\.pt$")  # before issue 13's one scheme; still resumed


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
        return {"format": FORMAT, "step": self.step, "prior": self.prior.state_dict(),
                "optimizer": self.optimizer.state_dict(), "seed": self.seed,
                "latent_size": self.prior.latent_size, **(extra or {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"checkpoint was trained with seed {state['seed']}, this run uses "
                             f"seed {self.seed}; resuming would not be exact")
        self.prior.load_state_dict(state["prior"])
        self.optimizer.load_state_dict(state["optimizer"])  # follows the params' device
        self.step = int(state["step"])

    def save(self, folder: str | Path, keep_last: int = 1,
             extra: dict[str, Any] | None = None) -> Path:
        """Write `last.ckpt` in the one checkpoint scheme (`checkpoint_files`), atomically."""
        return files.save_last(folder, self.state_dict(extra), keep_last)


def read(path: str | Path, lazy: bool = True) -> dict[str, Any] | None:
    """A prior checkpoint (this format, or a legacy `prior-<step>.pt`), None if not one."""
    state = files.load(path, lazy)
    if state is None or any(k not in state for k in REQUIRED):
        return None
    legacy = "format" not in state and LEGACY_NAME.match(Path(path).name)
    return state if state.get("format") == FORMAT or legacy else None


def checkpoints(folder: str | Path) -> list[Path]:
    """The prior checkpoints in a folder, oldest (lowest stored step) first."""
    found = [(state["step"], path) for path in files.candidates(folder)
             if (state := read(path)) is not None]
    return [path for _, path in sorted(found, key=lambda sp: (sp[0], sp[1].name != files.LAST))]


def newest_valid(folder: str | Path, log: Callable[[str], None] = print
                 ) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint with the highest stored step; unreadable ones are reported and skipped.

    The one chosen is read whole (not memory-mapped): training goes on from its tensors.
    """
    found = files.newest_valid(folder, read, log)
    if found is None:
        return None
    state = read(found[0], lazy=False)
    return (found[0], state) if state is not None else None
