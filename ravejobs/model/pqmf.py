"""Pseudo-quadrature mirror filter bank: splits audio into `data_size` critically sampled bands.

RAVE works on bands so that every convolution sees `data_size` times fewer time steps. The
prototype low-pass is a Kaiser window filter whose cut-off is tuned so that analysis followed by
synthesis is close to a pure delay (near-perfect reconstruction); `attenuation` is the stop-band
rejection in dB (upstream: 100, or 70 with `no_latency`, which also makes padding causal).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar
from scipy.signal import firwin, kaiser_beta, kaiserord
from torch import nn


def prototype(bands: int, attenuation: float) -> np.ndarray:
    """Odd-length low-pass prototype whose delay is a whole number of band samples."""
    numtaps, _ = kaiserord(attenuation, 0.5 / bands)
    half = math.ceil((numtaps - 1) / (2 * bands)) * bands
    numtaps = 2 * half + 1
    beta = kaiser_beta(attenuation)

    def design(wc: float) -> np.ndarray:
        return firwin(numtaps, wc, window=("kaiser", beta), scale=False)

    def leak(wc: float) -> float:
        # Near-perfect reconstruction: h * reversed(h) vanishes at non-zero multiples of 2M.
        h = design(wc)
        g = np.convolve(h, h[::-1])
        centre = len(g) // 2
        taps = np.concatenate([g[centre + 2 * bands::2 * bands], g[centre - 2 * bands::-2 * bands]])
        return float(np.max(np.abs(taps))) if taps.size else 0.0

    best = minimize_scalar(leak, bounds=(0.25 / bands, 0.75 / bands), method="bounded",
                           options={"xatol": 1e-7})
    return design(float(best.x))


class PQMF(nn.Module):
    """x (B,1,T) <-> bands (B,M,T/M); T must be a multiple of M."""

    def __init__(self, bands: int, attenuation: float = 100.0, causal: bool = False):
        super().__init__()
        if bands < 2 or bands & (bands - 1):
            raise ValueError(f"model.data_size={bands}: PQMF bands must be a power of 2 >= 2")
        self.bands = bands
        h = prototype(bands, attenuation)
        n = np.arange(len(h)) - (len(h) - 1) / 2
        k = np.arange(bands)[:, None]
        phase = (-1.0) ** k * math.pi / 4
        arg = (2 * k + 1) * math.pi / (2 * bands) * n
        analysis = 2 * h * np.cos(arg + phase)
        synthesis = 2 * h * np.cos(arg - phase)
        self.register_buffer("h_analysis", torch.tensor(analysis[:, None, ::-1].copy(),
                                                        dtype=torch.float32))
        self.register_buffer("h_synthesis", torch.tensor(synthesis[:, None, :].copy(),
                                                         dtype=torch.float32))
        taps = len(h)
        self.pad = (taps - 1, 0) if causal else ((taps - 1) // 2, (taps - 1) // 2)
        self.causal = causal

    @property
    def delay(self) -> int:
        """Samples of delay of analysis + synthesis (0 when centred)."""
        return self.h_analysis.shape[-1] - 1 if self.causal else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.conv1d(F.pad(x.float(), self.pad), self.h_analysis, stride=self.bands)

    def inverse(self, bands: torch.Tensor) -> torch.Tensor:
        """Synthesis: the transposed convolution by `h_synthesis`, computed polyphase.

        Output sample M*q + p only meets the taps p, M + p, 2M + p, ... of each band's filter,
        so the transposed convolution is an ordinary M -> M channel convolution (channel p
        holds phase p) followed by interleaving the channels. The dense convolution is several
        times faster than a strided transposed one with a single output channel (on CPU 9 ms
        instead of 68 ms for a rave_v1 batch) and gives the same values.
        """
        with torch.autocast(bands.device.type, enabled=False):
            m, taps = self.bands, self.h_synthesis.shape[-1]
            j = -(-taps // m)  # taps per phase
            h = F.pad(self.h_synthesis[:, 0], (0, j * m - taps))  # (band, j*m)
            # weight[p, k, i] = h_k[m * (j - 1 - i) + p]: conv1d correlates, so flip the taps
            weight = h.view(m, j, m).permute(2, 0, 1).flip(-1)
            phases = F.conv1d(F.pad(bands.float(), (j - 1, j - 1)), weight)  # (B, m, T + j - 1)
            y = phases.transpose(1, 2).reshape(bands.shape[0], 1, -1)
            n = bands.shape[-1] * m
            start = 0 if self.causal else (taps - 1) // 2
            return y[..., start:start + n] * m
