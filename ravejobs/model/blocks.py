"""Building blocks shared by the decoder: residual stacks, upsampling, filtered-noise synthesis."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.model.convs import Conv1d, ConvTranspose1d


def mod_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Upstream's amplitude nonlinearity: positive, saturating at 2, never exactly zero."""
    return 2 * torch.sigmoid(x) ** 2.3 + 1e-7


class ResidualStack(nn.Module):
    """Three dilated residual units (dilations 1, 3, 9 as upstream v1's 3**i): a wide
    receptive field at one rate."""

    def __init__(self, dim: int, kernel: int = 3, bias: bool = True, causal: bool = False):
        super().__init__()
        self.units = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.2),
                Conv1d(dim, dim, kernel, dilation=d, bias=bias, causal=causal),
                nn.LeakyReLU(0.2, inplace=True),  # on a fresh conv output: saves a copy
                Conv1d(dim, dim, kernel, bias=bias, causal=causal),
            )
            for d in (1, 3, 9)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.units:
            x = unit(x).add_(x)  # the unit's output is fresh and saved by no backward
        return x


class Upsample(nn.Module):
    """LeakyReLU then a transposed convolution by `ratio` (a plain conv when ratio is 1)."""

    def __init__(self, in_dim: int, out_dim: int, ratio: int, bias: bool = True,
                 causal: bool = False):
        super().__init__()
        self.act = nn.LeakyReLU(0.2, inplace=True)  # its input is a fresh, unsaved output
        self.conv: nn.Module
        if ratio > 1:
            self.conv = ConvTranspose1d(in_dim, out_dim, ratio, bias=bias, causal=causal)
        else:
            self.conv = Conv1d(in_dim, out_dim, 3, bias=bias, causal=causal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(x))


def amp_to_impulse_response(amp: torch.Tensor, size: int) -> torch.Tensor:
    """Magnitude responses (..., n_bands) -> zero-phase, Hann-windowed FIRs (..., size)."""
    ir = torch.fft.irfft(amp.to(torch.complex64))
    n = ir.shape[-1]
    ir = torch.roll(ir, n // 2, -1) * torch.hann_window(n, dtype=ir.dtype, device=ir.device)
    ir = F.pad(ir, (0, size - n)) if size > n else ir[..., :size]
    return torch.roll(ir, -(n // 2), -1)


def fft_convolve(signal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Linear convolution of the last axis, truncated to the signal's length."""
    n = signal.shape[-1]
    out = torch.fft.irfft(torch.fft.rfft(F.pad(signal, (0, n))) *
                          torch.fft.rfft(F.pad(kernel, (n, 0))))
    return out[..., n:]


class NoiseGenerator(nn.Module):
    """Filtered noise per PQMF band: the decoder predicts `noise_bands` magnitudes per frame.

    This gives the model a cheap way to make noisy textures (breath, cymbals) that a
    deterministic waveform generator renders badly; upstream switches it on in phase 2.
    As upstream v1, its convolutions have no weight norm and always a bias.
    """

    def __init__(self, in_dim: int, data_size: int, ratios: tuple[int, ...], noise_bands: int,
                 causal: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        dims = [in_dim] * len(ratios) + [data_size * noise_bands]
        for i, r in enumerate(ratios):
            layers.append(Conv1d(dims[i], dims[i + 1], 3, stride=r, causal=causal, norm=False))
            if i != len(ratios) - 1:
                layers.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers)
        self.data_size = data_size
        self.hop = math.prod(ratios)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amp = mod_sigmoid(self.net(x) - 5).float()  # (B, data_size*noise_bands, frames)
        b, _, frames = amp.shape
        with torch.autocast(x.device.type, enabled=False):
            amp = amp.permute(0, 2, 1).reshape(b, frames, self.data_size, -1)
            ir = amp_to_impulse_response(amp, self.hop)
            noise = torch.rand_like(ir) * 2 - 1
            noise = fft_convolve(noise, ir)  # (B, frames, data_size, hop)
            return noise.permute(0, 2, 1, 3).reshape(b, self.data_size, frames * self.hop)
