"""Latent fidelity: PCA of the encoder means, and how many dimensions carry the variance.

Upstream crashes when the validation set has fewer frames than latent dimensions (corpora under
~10 minutes). Here the PCA is the eigen-decomposition of the (k x k) covariance, which exists
for any number of frames >= 2: with fewer frames than dimensions the trailing eigenvalues are
zero, the cumulative variance simply reaches 1 early, and the basis is still complete (so
`load_trained` can always project and un-project). With fewer than 2 frames, non-finite means
or an eigen-decomposition that fails, nothing is updated (False): the PCA never crashes a run.
"""

from __future__ import annotations

import torch
from torch import nn

THRESHOLDS = (0.8, 0.9, 0.95, 0.99)


class Fidelity(nn.Module):
    """PCA state as buffers, so it travels in the model's state_dict and every checkpoint."""

    def __init__(self, dims: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("components", torch.eye(dims))  # rows: principal axes
        self.register_buffer("cumvar", torch.linspace(1 / dims, 1.0, dims))
        self.register_buffer("frames", torch.zeros((), dtype=torch.long))
        self.register_buffer("computed_at", torch.full((), -1, dtype=torch.long))

    @property
    def computed(self) -> bool:
        return int(self.computed_at) >= 0

    @torch.no_grad()
    def update(self, means: torch.Tensor, step: int) -> bool:
        """Fit the PCA on means (B, k, frames) or (N, k); False if there were too few frames."""
        x = means.transpose(1, 2).reshape(-1, means.shape[1]) if means.dim() == 3 else means
        x = x.double()
        if x.shape[0] < 2 or not bool(torch.isfinite(x).all()):
            return False  # a diverging model's means: keep the last PCA, never crash the run
        mean = x.mean(0)
        centred = x - mean
        cov = centred.T @ centred / (x.shape[0] - 1)
        try:
            values, vectors = torch.linalg.eigh(cov)
        except RuntimeError:  # torch.linalg.LinAlgError: ill-conditioned beyond repair
            return False
        order = torch.argsort(values, descending=True)
        values = values[order].clamp_min(0)
        total = values.sum()
        if total <= 0:  # all frames identical: every direction is as good as any
            cumvar = torch.ones_like(values)
        else:
            cumvar = torch.cumsum(values, 0) / total
        self.mean.copy_(mean.float())
        self.components.copy_(vectors[:, order].T.float())
        self.cumvar.copy_(cumvar.clamp(max=1.0).float())
        self.frames.fill_(x.shape[0])
        self.computed_at.fill_(step)
        return True

    def size(self, threshold: float) -> int:
        """Fewest leading components whose cumulative variance reaches `threshold`."""
        reached = (self.cumvar >= threshold - 1e-6).nonzero()
        return int(reached[0]) + 1 if len(reached) else self.cumvar.numel()

    def sizes(self) -> dict[str, int]:
        return {f"fidelity_{round(t * 100)}": self.size(t) for t in THRESHOLDS}

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """(B, k, frames) latent means -> PCA coordinates, most variance first."""
        return torch.einsum("dk,bkt->bdt", self.components, z - self.mean[:, None])

    def unproject(self, p: torch.Tensor) -> torch.Tensor:
        """Inverse of `project`; missing trailing coordinates are taken as 0 (their mean)."""
        k = self.mean.numel()
        if p.shape[1] < k:
            p = torch.cat([p, p.new_zeros(p.shape[0], k - p.shape[1], p.shape[2])], 1)
        return torch.einsum("dk,bdt->bkt", self.components, p) + self.mean[:, None]
