"""The decoder: latent frames -> PQMF bands, as an amplitude-modulated waveform plus noise."""

from __future__ import annotations

import torch
from torch import nn

from ravejobs.model.blocks import NoiseGenerator, ResidualStack, Upsample, mod_sigmoid
from ravejobs.model.convs import Conv1d


class Decoder(nn.Module):
    """Mirror of the encoder: channels halve at each upsampling by `ratios`."""

    def __init__(self, data_size: int, capacity: int, latent_size: int,
                 ratios: tuple[int, ...], loud_stride: int = 1, use_noise: bool = True,
                 noise_ratios: tuple[int, ...] = (4, 4, 4), noise_bands: int = 5,
                 bias: bool = True, causal: bool = False):
        super().__init__()
        n = len(ratios)
        layers: list[nn.Module] = [Conv1d(latent_size, capacity * 2 ** n, 7, bias=bias,
                                          causal=causal)]
        for i, r in enumerate(ratios):
            in_dim, out_dim = capacity * 2 ** (n - i), capacity * 2 ** (n - i - 1)
            # Upstream v1 does not hand `bias` to these: they never have one.
            layers += [Upsample(in_dim, out_dim, r, bias=False, causal=causal),
                       ResidualStack(out_dim, bias=False, causal=causal)]
        self.net = nn.Sequential(*layers)
        self.wave = Conv1d(capacity, data_size, 7, bias=bias, causal=causal)
        self.loud = Conv1d(capacity, 1, 2 * loud_stride + 1, stride=loud_stride, bias=bias,
                           causal=causal)
        self.loud_stride = loud_stride
        self.noise = (NoiseGenerator(capacity, data_size, noise_ratios, noise_bands,
                                     causal=causal) if use_noise else None)

    def forward(self, z: torch.Tensor, add_noise: bool = True) -> torch.Tensor:
        h = self.net(z)
        loud = self.loud(h)
        if self.loud_stride > 1:
            loud = loud.repeat_interleave(self.loud_stride, dim=-1)[..., :h.shape[-1]]
        y = torch.tanh(self.wave(h)) * mod_sigmoid(loud)
        if add_noise and self.noise is not None:
            y = y + self.noise(h)
        return y
