"""The discriminator v2.gin uses: multi-period (HiFi-GAN style) plus multi-scale, combined.

Each sub-discriminator is the same convolutional net: `layers` weight-normalised convolutions of
stride 4, channels capacity * multiplier**i, leaky ReLU between, then a 1x1 projection to one
score channel (no weight norm). Its features are the outputs of every convolution, before the
activation; the last is the score. Periods fold the signal into (T / p, p) and use 2-D kernels
(5, 1); scales use 1-D kernels 15 on the signal average-pooled by 2 per scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

STRIDE = 4
PERIOD_KERNEL = 5
SCALE_KERNEL = 15


class ConvNet(nn.Module):
    """One sub-discriminator; `two_d` for the period branch."""

    def __init__(self, capacity: int, multiplier: int, layers: int, kernel: int, two_d: bool):
        super().__init__()
        conv = nn.Conv2d if two_d else nn.Conv1d
        channels = [1] + [capacity * multiplier ** i for i in range(layers)]
        pad = (kernel - 1) // 2
        self.convs = nn.ModuleList()
        for i in range(layers):
            self.convs.append(weight_norm(conv(
                channels[i], channels[i + 1], (kernel, 1) if two_d else kernel,
                stride=(STRIDE, 1) if two_d else STRIDE, padding=(pad, 0) if two_d else pad)))
        self.score = conv(channels[-1], 1, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for conv in self.convs:
            x = conv(x)
            features.append(x)
            x = F.leaky_relu(x, 0.2)
        features.append(self.score(x))
        return features


def fold(x: torch.Tensor, period: int) -> torch.Tensor:
    """(B, C, T) -> (B, C, ceil(T / p), p), zero-padded on the right."""
    x = F.pad(x, (0, (-x.shape[-1]) % period))
    return x.reshape(*x.shape[:2], -1, period)


class CombinedDiscriminator(nn.Module):
    """Features of every sub-discriminator: periods first, then scales (upstream's order)."""

    def __init__(self, capacity: int, multiplier: int, layers: int,
                 periods: tuple[int, ...], scales: int):
        super().__init__()
        self.periods = tuple(periods)
        self.period_nets = nn.ModuleList(
            ConvNet(capacity, multiplier, layers, PERIOD_KERNEL, True) for _ in periods)
        self.scale_nets = nn.ModuleList(
            ConvNet(capacity, multiplier, layers, SCALE_KERNEL, False) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = [net(fold(x, p)) for net, p in zip(self.period_nets, self.periods, strict=True)]
        for i, net in enumerate(self.scale_nets):
            if i:
                x = F.avg_pool1d(x, 2)
            out.append(net(x))
        return out
