"""A trained model as the prior and export stages see it: PCA-projected, cropped latents.

Kept dimensions: `cropped_latent_size` when set; otherwise upstream's export rule
(`export_rave.py`): i = the first index (from 0) where the cumulative explained variance exceeds
0.95, kept = 2**ceil(log2(i)), at most the encoder's size. Upstream crashes for i = 0 (one
component carries it all); we keep 1 there. Before any PCA was fitted (no validation yet) the
projection is the identity and every dimension is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.config import RunSpec
from ravejobs.model import checkpoints
from ravejobs.model.module import RAVE
from ravejobs.model.v2 import build_model


def upstream_kept(cumvar: torch.Tensor, fidelity: float = 0.95) -> int:
    """2**ceil(log2(i)) for i the first index whose cumulative variance exceeds `fidelity`."""
    above = (cumvar > fidelity).nonzero()
    i = int(above[0]) if len(above) else 0
    return 1 << (i - 1).bit_length() if i > 0 else 1


def kept_dimensions(model: RAVE) -> int:
    if model.cfg.cropped_latent_size:
        return model.kept
    if not model.fidelity.computed:
        return model.kept
    return min(model.kept, upstream_kept(model.fidelity.cumvar))


class TrainedRAVE(nn.Module):
    def __init__(self, model: RAVE, checkpoint_path: Path, step: int, phase: str):
        super().__init__()
        self.model = model.eval()
        self.checkpoint_path, self.step, self.phase = checkpoint_path, step, phase
        self.sr = model.cfg.sr
        self.hop = model.cfg.hop
        self.latent_size = kept_dimensions(model)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B,1,T) audio -> (B, latent_size, T / hop) PCA coordinates of the latent means."""
        return self.model.fidelity.project(self.model.encode(x))[:, : self.latent_size]

    @torch.no_grad()
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,1,T) audio -> posterior mean and std (B, encoder size, T / hop), unprojected."""
        mean, scale = self.model.encoder(self.model.analyse(x))
        return mean, F.softplus(scale) + 1e-4

    def projection(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(PCA mean [K], kept components [latent_size, K]): z -> (z - mean) @ components.T."""
        fid = self.model.fidelity
        return fid.mean, fid.components[: self.latent_size]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_size, frames) -> (B,1,frames*hop); dropped PCA axes are set to their mean."""
        return self.model.decode(self.model.fidelity.unproject(z), add_noise=True)


class RunFolder(Protocol):
    """What `load_trained` needs of a run folder (a `RunDir`); model/ never imports run folders."""

    @property
    def checkpoints(self) -> Path: ...

    @property
    def name(self) -> str: ...


def load_trained(run: RunFolder, device: str = "cpu") -> TrainedRAVE:
    """The newest valid checkpoint of a train run folder, ready to encode and decode."""
    found = checkpoints.newest_valid(run.checkpoints)
    if found is None:
        raise FileNotFoundError(f"{run.checkpoints}: no loadable checkpoint; train {run.name} "
                                f"first")
    path, _ = found
    ckpt = checkpoints.read(path, lazy=False)
    assert ckpt is not None
    spec = RunSpec.from_dict(ckpt["spec"])
    model = build_model(spec.model, spec.phase.warmup, spec.kl, spec.seed)
    model.load_state_dict(ckpt["state_dict"])
    model.step = ckpt["step"]
    return TrainedRAVE(model, path, ckpt["step"], ckpt["phase"]).to(device)
