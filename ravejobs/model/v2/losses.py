"""RAVE v2's losses (acids-rave 2.3.1 with v2.gin), written afresh.

Spectral distance, per STFT size n in SCALES (hop n / 4, Hann window, centred, reflect-padded,
not normalised), on magnitudes X (target) and Y:
    mean((X - Y)^2) / mean(X^2) + mean|log(X + 1e-7) - log(Y + 1e-7)|
summed over sizes; it is applied to the PQMF bands and to the full band. Sizes longer than the
signal are skipped (upstream would fail). Feature matching is the relative L1 distance
mean|r - f| / mean|r| per discriminator feature, skipping the first feature of every
sub-discriminator, averaged over features and then over sub-discriminators.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.model.stft import stft_magnitude

SCALES = (2048, 1024, 512, 256, 128)
LOG_EPS = 1e-7


class SpectralDistanceV2(nn.Module):
    def __init__(self, scales: tuple[int, ...] = SCALES, eps: float = LOG_EPS):
        super().__init__()
        self.scales, self.eps = scales, eps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x: target, y: estimate, (..., T) each."""
        with torch.autocast(x.device.type, enabled=False):
            x = x.reshape(-1, x.shape[-1]).float()
            y = y.reshape(-1, y.shape[-1]).float()
            total = x.new_zeros(())
            for n in self.scales:
                if n > x.shape[-1]:
                    continue
                with torch.no_grad():
                    mx = stft_magnitude(x, n, n // 4)
                    log_x = torch.log(mx + self.eps)
                my = stft_magnitude(y, n, n // 4)
                total = total + (mx - my).pow(2).mean() / mx.pow(2).mean()
                total = total + (log_x - torch.log(my + self.eps)).abs().mean()
            return total


def hinge(score_real: torch.Tensor, score_fake: torch.Tensor) -> tuple[torch.Tensor,
                                                                       torch.Tensor]:
    """(discriminator loss, generator loss) of one sub-discriminator."""
    dis = (F.relu(1 - score_real) + F.relu(1 + score_fake)).mean()
    return dis, -score_fake.mean()


def feature_matching(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]],
                     skip: int = 1) -> torch.Tensor:
    total = fake[0][-1].new_zeros(())
    for r_net, f_net in zip(real, fake, strict=True):
        pairs = list(zip(r_net[skip:], f_net[skip:], strict=True))
        total = total + sum((r - f).abs().mean() / r.abs().mean() for r, f in pairs) / len(pairs)
    return total / len(real)


def gaussian_kl(mean: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample z ~ N(mean, softplus(scale) + 1e-4) and the KL to N(0, I) (sum over dims,
    mean over batch and frames). One `randn_like(mean)`."""
    std = F.softplus(scale) + 1e-4
    var = std * std
    z = torch.randn_like(mean) * std + mean
    return z, (mean * mean + var - torch.log(var) - 1).sum(1).mean()


def mmd_to_normal(z: torch.Tensor) -> torch.Tensor:
    """Maximum mean discrepancy of the frames of z (B, C, T) to as many N(0, I) draws.

    Kernel exp(-mean_c (a - b)^2 / C) averaged over all pairs (upstream's WasserteinEncoder).
    One `randn_like` of (B*T, C).
    """
    a = z.permute(0, 2, 1).reshape(-1, z.shape[1])
    b = torch.randn_like(a)

    def kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(u[:, None] - v[None]).pow(2).mean(2) / u.shape[-1]).mean()

    return kernel(a, a) + kernel(b, b) - 2 * kernel(a, b)
