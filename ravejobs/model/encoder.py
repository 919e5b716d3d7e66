"""The encoder: PQMF bands -> mean and scale of a Gaussian latent, one frame per `hop` samples."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.model.convs import Conv1d


class Encoder(nn.Module):
    """Strided convolutions; channels double at each of `ratios` (capacity * 2**i).

    As upstream v1: no weight norm anywhere in the encoder, and the last convolution is
    grouped in two (mean and scale each computed from half of the channels).
    """

    def __init__(self, data_size: int, capacity: int, latent_size: int,
                 ratios: tuple[int, ...], bias: bool = True, causal: bool = False):
        super().__init__()
        layers: list[nn.Module] = [Conv1d(data_size, capacity, 7, bias=bias, causal=causal,
                                          norm=False)]
        dim = capacity
        for i, r in enumerate(ratios):
            out = capacity * 2 ** (i + 1)
            # In place: batch norm and convolutions keep their inputs, not their outputs.
            layers += [nn.BatchNorm1d(dim), nn.LeakyReLU(0.2, inplace=True),
                       Conv1d(dim, out, 2 * r + 1, stride=r, bias=bias, causal=causal,
                              norm=False)]
            dim = out
        layers += [nn.LeakyReLU(0.2, inplace=True),
                   Conv1d(dim, 2 * latent_size, 5, groups=2, bias=bias, causal=causal,
                          norm=False)]
        self.net = nn.Sequential(*layers)

    def forward(self, bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (mean, scale) each (B, latent_size, frames); std = softplus(scale) + 1e-4."""
        mean, scale = self.net(bands).chunk(2, dim=1)
        return mean, scale


def reparametrize(mean: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample z and return the KL to N(0, I), summed over dimensions, averaged over B and frames."""
    std = F.softplus(scale) + 1e-4
    var = std * std
    z = torch.randn_like(mean) * std + mean
    kl = (mean * mean + var - torch.log(var) - 1).sum(1).mean()
    return z, kl
