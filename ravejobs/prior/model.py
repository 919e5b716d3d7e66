"""The upstream-v1 latent prior: a causal dilated WaveNet-style stack over RAVE latents.

Each latent dimension is mapped through the normal CDF into `resolution` equal-probability bins
and predicted as a categorical, so the prior models any marginal shape without a parametric
family. Before the network sees them, latents are shifted diagonally as upstream does
(`DiagonalShift`): dimension i is read k-1-i frames ahead, so within one time frame the dimensions
are predicted one after another (dimension 0, the main component, first) instead of all
independently.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ravejobs.atomic import atomic_torch_save
from ravejobs.config import PriorSpec


class QuantizedNormal(nn.Module):
    """N(0,1) values <-> `resolution` bins of equal probability (normal CDF, then floor)."""

    def __init__(self, resolution: int, clamp: float = 4.0):
        super().__init__()
        self.resolution = resolution
        self.clamp = clamp

    def bins(self, z: torch.Tensor) -> torch.Tensor:
        """Latents [..] -> bin indices [..] (long) in [0, resolution)."""
        u = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        return torch.clamp(torch.floor(u * self.resolution), 0, self.resolution - 1).long()

    def values(self, bins: torch.Tensor, dither: bool = True,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Bin indices -> latent values: the inverse CDF at a point inside the bin.

        Dithering (a uniform point in the bin, as upstream) keeps decoded latents continuous;
        without it the bin centre is used.
        """
        offset = (torch.rand(bins.shape, generator=generator, device=bins.device)
                  if dither else torch.full(bins.shape, 0.5, device=bins.device))
        u = (bins.float() + offset) / self.resolution
        u = torch.clamp(u, 1e-6, 1 - 1e-6)
        return torch.clamp(torch.erfinv(2 * u - 1) * math.sqrt(2), -self.clamp, self.clamp)

    def one_hot(self, bins: torch.Tensor) -> torch.Tensor:
        """[B, k, T] bins -> [B, k * resolution, T] stacked one-hot (dimension-major channels)."""
        b, k, t = bins.shape
        x = F.one_hot(bins, self.resolution).float()          # B k T R
        return x.permute(0, 1, 3, 2).reshape(b, k * self.resolution, t)


class DiagonalShift:
    """Upstream's diagonal shift: shifted[:, i, p] = z[:, i, p + k - 1 - i]; loses k-1 frames.

    Dimension 0 (the main PCA component) is read k-1 frames ahead, so at every position it is
    predicted first and the later dimensions are predicted knowing it (upstream v1's
    `DiagonalShift`, `prior/core.py`).
    """

    @staticmethod
    def forward(z: torch.Tensor) -> torch.Tensor:
        k, t = z.shape[1], z.shape[-1]
        if t < k:
            raise ValueError(f"diagonal shift needs at least {k} frames (latent_size), got {t}")
        return torch.stack([z[:, i, k - 1 - i:t - i] for i in range(k)], 1)

    @staticmethod
    def inverse(s: torch.Tensor) -> torch.Tensor:
        """Undo `forward`: z[:, i, t] = shifted[:, i, t - k + 1 + i]; frames no dimension
        covers drop."""
        k, p = s.shape[1], s.shape[-1]
        if p < k:
            raise ValueError(f"inverse shift needs at least {k} positions, got {p}")
        return torch.stack([s[:, i, i:p - k + 1 + i] for i in range(k)], 1)


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left only, so output t sees inputs <= t."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.kernel_size[0] - 1) * self.dilation[0]
        return super().forward(F.pad(x, (pad, 0)))


class ResidualBlock(nn.Module):
    """Gated dilated causal convolution with residual and skip outputs (WaveNet)."""

    def __init__(self, res_size: int, skp_size: int, kernel_size: int, dilation: int):
        super().__init__()
        self.dconv = CausalConv1d(res_size, 2 * res_size, kernel_size, dilation=dilation)
        self.rconv = nn.Conv1d(res_size, res_size, 1)
        self.sconv = nn.Conv1d(res_size, skp_size, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.dconv(x).chunk(2, 1)
        h = torch.sigmoid(a) * torch.tanh(b)
        s = self.sconv(h)
        return x + self.rconv(h), s if skip is None else skip + s


class Prior(nn.Module):
    """Logits for the next frame of every latent dimension, from all frames so far.

    Input and output are [B, k * resolution, T] (stacked one-hot in, logits out); output t is
    the prediction for position t + 1. The first and last convolutions are grouped per
    dimension, as upstream.
    """

    def __init__(self, latent_size: int, resolution: int = 32, res_size: int = 512,
                 skp_size: int = 256, kernel_size: int = 3, cycle_size: int = 4,
                 n_layers: int = 10):
        super().__init__()
        self.config = {"latent_size": latent_size, "resolution": resolution,
                       "res_size": res_size, "skp_size": skp_size, "kernel_size": kernel_size,
                       "cycle_size": cycle_size, "n_layers": n_layers}
        self.latent_size = latent_size
        self.quant = QuantizedNormal(resolution)
        self.resolution = resolution
        channels = latent_size * resolution
        groups = latent_size if res_size % latent_size == 0 else 1
        self.pre_net = nn.Sequential(
            CausalConv1d(channels, res_size, kernel_size, groups=groups), nn.LeakyReLU(0.2))
        self.residuals = nn.ModuleList(
            ResidualBlock(res_size, skp_size, kernel_size, 2 ** (i % cycle_size))
            for i in range(n_layers))
        out_groups = latent_size if skp_size % latent_size == 0 else 1
        self.post_net = nn.Sequential(
            nn.Conv1d(skp_size, skp_size, 1), nn.LeakyReLU(0.2),
            nn.Conv1d(skp_size, channels, 1, groups=out_groups))

    @classmethod
    def from_spec(cls, spec: PriorSpec, latent_size: int) -> Prior:
        return cls(latent_size, spec.resolution, spec.res_size, spec.skp_size, spec.kernel_size,
                   spec.cycle_size, spec.n_layers)

    @property
    def receptive_field(self) -> int:
        """Frames of context one prediction sees (per shifted position)."""
        k = self.pre_net[0].kernel_size[0]
        return k + sum((blk.dconv.kernel_size[0] - 1) * blk.dconv.dilation[0]
                       for blk in self.residuals)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.pre_net(x)
        skip = None
        for block in self.residuals:
            res, skip = block(res, skip)
        return self.post_net(skip)

    def split(self, logits: torch.Tensor) -> torch.Tensor:
        """[B, k * R, T] -> [B, k, T, R]."""
        b, _, t = logits.shape
        return logits.reshape(b, self.latent_size, self.resolution, t).transpose(2, 3)

    def loss(self, z: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of next-position bins for latents z [B, k, T] (upstream's objective)."""
        if z.shape[1] != self.latent_size:
            raise ValueError(f"latents have {z.shape[1]} dimensions; this prior was built for "
                             f"{self.latent_size}")
        bins = self.quant.bins(DiagonalShift.forward(z))     # B k P
        logits = self.split(self.forward(self.quant.one_hot(bins))[..., :-1])
        return F.cross_entropy(logits.reshape(-1, self.resolution), bins[..., 1:].reshape(-1))


def save_prior(path: str | Path, prior: Prior, **info: Any) -> Path:
    """The trained prior alone (no optimiser): its shape, weights and where it came from."""
    return atomic_torch_save(path, {"config": prior.config, "state": prior.state_dict(), **info})


def load_prior(path: str | Path, device: str | torch.device = "cpu") -> Prior:
    """A prior written by `save_prior`, in eval mode."""
    saved = torch.load(path, map_location=device, weights_only=False)
    prior = Prior(**saved["config"]).to(device)
    prior.load_state_dict(saved["state"])
    return prior.eval()


@torch.no_grad()
def sample(prior: Prior, n_frames: int, temperature: float = 1.0, batch: int = 1,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw latents [batch, k, n_frames] from the prior, one shifted position at a time.

    temperature < 1 sharpens the categoricals (safer, more repetitive), > 1 flattens them;
    0 takes the most likely bin. The run starts from the centre bin; each step feeds at most
    the receptive field, so cost is linear in n_frames.
    """
    if temperature < 0:
        raise ValueError(f"temperature={temperature}: must be >= 0")
    was_training = prior.training
    prior.eval()
    k, device = prior.latent_size, next(prior.parameters()).device
    positions = n_frames + k - 1
    bins = torch.full((batch, k, positions), prior.resolution // 2, dtype=torch.long,
                      device=device)
    context = prior.receptive_field
    for p in range(positions - 1):
        window = bins[..., max(0, p + 1 - context):p + 1]
        logits = prior.split(prior(prior.quant.one_hot(window))[..., -1:])[:, :, 0]  # B k R
        if temperature == 0:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, -1).reshape(-1, prior.resolution)
            nxt = torch.multinomial(probs, 1, generator=generator).reshape(batch, k)
        bins[..., p + 1] = nxt
    prior.train(was_training)
    return DiagonalShift.inverse(prior.quant.values(bins, generator=generator))
