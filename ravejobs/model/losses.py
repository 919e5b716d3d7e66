"""Reconstruction and adversarial losses (upstream v1's, written afresh).

`distance` = multiscale spectral distance on the PQMF bands + on the full band + loudness MSE.
All spectral work runs in float32 even under bf16 autocast: FFTs in bf16 are unsupported or too
coarse for log magnitudes.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.model.stft import EPS, log_linear_distance, stft_magnitude

SCALES = (2048, 1024, 512, 256, 128)
OVERLAP = 0.75


class SpectralDistance(nn.Module):
    """Sum over window sizes of upstream's log + linear spectral distance (`log_linear_distance`).

    Sizes longer than the signal are skipped; a signal shorter than all of them is refused.
    """

    def __init__(self, scales: tuple[int, ...] = SCALES, overlap: float = OVERLAP):
        super().__init__()
        self.scales = scales
        self.overlap = overlap

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x: target, y: reconstruction, (..., T) each; only y gets a gradient."""
        with torch.autocast(x.device.type, enabled=False):
            x = x.reshape(-1, x.shape[-1]).float()
            y = y.reshape(-1, y.shape[-1]).float()
            scales = [n for n in self.scales if n <= x.shape[-1]]
            if not scales:
                raise ValueError(f"signal of {x.shape[-1]} samples is shorter than every STFT "
                                 f"scale {self.scales}; raise model.n_signal")
            return sum(log_linear_distance(x, y, n, int(n * (1 - self.overlap)), normalized=True)
                       for n in scales)


class Loudness(nn.Module):
    """A-weighted log-magnitude averaged over frequency, one value per `block` samples."""

    def __init__(self, sr: int, block: int = 512, n_fft: int = 2048):
        super().__init__()
        self.block, self.n_fft = block, n_fft
        freqs = np.linspace(0, sr / 2, n_fft // 2 + 1) + 1e-7
        weight = librosa.A_weighting(freqs).reshape(-1, 1)
        self.register_buffer("a_weight", torch.tensor(weight, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            x = x.reshape(-1, x.shape[-1]).float()
            n = min(self.n_fft, x.shape[-1])
            weight = self.a_weight if n == self.n_fft else self.a_weight[:: self.n_fft // n]
            s = stft_magnitude(x, n, self.block)
            return (torch.log(s + EPS) + weight[: s.shape[-2]]).mean(-2)


def adversarial(score_real: torch.Tensor, score_fake: torch.Tensor,
                mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(discriminator loss, generator loss) for one scale; `mode` as upstream's `--mode`."""
    if mode == "hinge":
        dis = F.relu(1 - score_real).mean() + F.relu(1 + score_fake).mean()
        gen = -score_fake.mean()
    elif mode == "square":
        dis = (score_real - 1).pow(2).mean() + score_fake.pow(2).mean()
        gen = (score_fake - 1).pow(2).mean()
    elif mode == "nonsaturating":
        dis = F.softplus(-score_real).mean() + F.softplus(score_fake).mean()
        gen = F.softplus(-score_fake).mean()
    else:
        raise ValueError(f"model.mode={mode!r}: must be hinge, square or nonsaturating")
    return dis, gen


def feature_matching(real: list[list[torch.Tensor]],
                     fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """10 x mean L1 between discriminator features, averaged per scale, summed over scales."""
    total = fake[0][0].new_zeros(())
    for r_scale, f_scale in zip(real, fake, strict=True):
        layers = [(r - f).abs().mean() for r, f in zip(r_scale, f_scale, strict=True)]
        total = total + 10 * sum(layers) / len(layers)
    return total
