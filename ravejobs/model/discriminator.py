"""Multi-scale waveform discriminator (3 scales, each on a 2x average-pooled copy)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.model.convs import Conv1d


class Discriminator(nn.Module):
    """Grouped strided convolutions; returns every conv output (for feature matching)."""

    def __init__(self, capacity: int, multiplier: int, n_layers: int):
        super().__init__()
        convs = [Conv1d(1, capacity, 15)]
        dim = capacity
        for i in range(n_layers):
            out = min(1024, capacity * multiplier ** (i + 1))
            groups = multiplier ** (i + 1)  # upstream v1's grouping
            convs.append(Conv1d(dim, out, 41, stride=multiplier, groups=groups))
            dim = out
        convs += [Conv1d(dim, dim, 5), Conv1d(dim, 1, 1)]
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i, conv in enumerate(self.convs):
            x = conv(x)
            features.append(x)
            if i < len(self.convs) - 1:
                x = F.leaky_relu(x, 0.2)
        return features


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, capacity: int, multiplier: int, n_layers: int, n_scales: int = 3):
        super().__init__()
        self.scales = nn.ModuleList(Discriminator(capacity, multiplier, n_layers)
                                    for _ in range(n_scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for d in self.scales:
            out.append(d(x))
            x = F.avg_pool1d(x, 2)
        return out
