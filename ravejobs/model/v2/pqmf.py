"""The PQMF filter bank as acids-rave 2.3.1 builds it for v2 (its `CachedPQMF`), our own code.

It differs from ravejobs' v1 bank (ravejobs/model/pqmf.py) in three ways that change the band
signals, so v2 weights trained upstream only fit this one:
  * the prototype: a Kaiser low-pass (`kaiserord` length made odd) whose cut-off minimises the
    largest off-centre tap of h * reversed(h) at multiples of 2M, found by Nelder-Mead from 1/M;
  * the cosine-modulated bank is zero-padded to the next power of two (then one more tap to
    make it odd) and applied as a strided convolution with 'same' padding (causal: all left);
  * odd bands have their even-indexed samples negated after analysis (and before synthesis).
Synthesis is polyphase: an M -> M convolution by the time-reversed bank split into M phases,
channels reversed and interleaved.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import fmin
from scipy.signal import firwin, kaiserord
from torch import nn

from ravejobs.model.v2.layers import padding


def _kaiser(wc: float, attenuation: float) -> np.ndarray:
    taps, beta = kaiserord(attenuation, wc / np.pi)
    taps = 2 * (taps // 2) + 1
    return firwin(taps, wc, window=("kaiser", beta), scale=False, fs=2 * np.pi)


def prototype(bands: int, attenuation: float) -> np.ndarray:
    def leak(w: np.ndarray) -> float:
        h = _kaiser(float(w[0]), attenuation)
        g = np.convolve(h, h[::-1], "full")
        return float(np.max(np.abs(g[g.shape[-1] // 2::2 * bands][1:])))

    return _kaiser(float(fmin(leak, 1 / bands, disp=0)[0]), attenuation)


def _flip_odd_bands(x: torch.Tensor) -> torch.Tensor:
    sign = torch.ones(x.shape[-2:], dtype=x.dtype, device=x.device)
    sign[1::2, ::2] = -1
    return x * sign


class PQMFv2(nn.Module):
    """x (B,1,T) <-> bands (B,M,T/M)."""

    def __init__(self, bands: int, attenuation: float = 100.0, causal: bool = False):
        super().__init__()
        if bands < 2 or bands & (bands - 1):
            raise ValueError(f"model.data_size={bands}: PQMF bands must be a power of 2 >= 2")
        self.bands = bands
        h = torch.from_numpy(prototype(bands, attenuation)).float()
        k = torch.arange(bands).reshape(-1, 1)
        n = h.shape[-1]
        t = torch.arange(-(n // 2), n // 2 + 1)
        bank = 2 * h * torch.cos((2 * k + 1) * math.pi / (2 * bands) * t
                                 + (-1) ** k * math.pi / 4)
        size = 2 ** math.ceil(math.log2(n))
        bank = F.pad(bank, ((size - n) // 2, (size - n) // 2 + (size - n) % 2))
        analysis = F.pad(bank, (0, 1)).unsqueeze(1)                      # (M, 1, size + 1)
        poly = bank.flip(-1).reshape(bands, -1, bands).permute(2, 0, 1)  # (M, M, size / M)
        synthesis = F.pad(poly, (0, 1))
        self.register_buffer("h_analysis", analysis)
        self.register_buffer("h_synthesis", synthesis)
        self.pad_analysis = padding(analysis.shape[-1], causal=causal)
        self.pad_synthesis = padding(synthesis.shape[-1], causal=causal)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            y = F.conv1d(F.pad(x.float(), self.pad_analysis), self.h_analysis, stride=self.bands)
            return _flip_odd_bands(y)

    def inverse(self, bands: torch.Tensor) -> torch.Tensor:
        with torch.autocast(bands.device.type, enabled=False):
            y = F.conv1d(F.pad(_flip_odd_bands(bands.float()), self.pad_synthesis),
                         self.h_synthesis) * self.bands
            y = y.flip(1).transpose(1, 2)
            return y.reshape(y.shape[0], 1, -1)
