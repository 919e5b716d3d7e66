"""Pseudo-quadrature mirror filter bank: splits audio into `data_size` critically sampled bands.

RAVE works on bands so that every convolution sees `data_size` times fewer time steps. This is
upstream v1's bank (b9e4865 `rave/pqmf.py`), rebuilt from its description:
  * the prototype low-pass is a Kaiser-window FIR whose length comes from `kaiserord` at the
    trial cut-off, the cut-off being found by Nelder-Mead (started at 1/M rad) minimising the
    largest non-zero 2M-spaced tap of h * reversed(h) (near-perfect reconstruction);
  * band k is the prototype modulated by cos((2k+1) pi/(2M) n + (-1)^k pi/4), zero-padded
    around the centre to a power-of-two length K (377 taps -> 512 for 16 bands at 100 dB);
  * odd bands are negated at even band samples after analysis and before synthesis
    (upstream's `reverse_half`), so a checkpoint's weights mean what they meant upstream.
`attenuation` is the stop-band rejection in dB (upstream: 100, or 70 with `no_latency`).
`causal=True` (our streaming extra) pads the analysis on the left only; upstream always centres.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import fmin
from scipy.signal import firwin, kaiserord
from torch import nn


def _kaiser_lowpass(wc: float, attenuation: float) -> np.ndarray:
    """Odd-length Kaiser low-pass at angular cut-off wc (rad/sample), length from kaiserord."""
    numtaps, beta = kaiserord(attenuation, wc / np.pi)
    numtaps = 2 * (numtaps // 2) + 1
    return firwin(numtaps, wc, window=("kaiser", beta), scale=False, fs=2 * np.pi)


def _leak(wc: float, attenuation: float, bands: int) -> float:
    h = _kaiser_lowpass(float(np.atleast_1d(wc)[0]), attenuation)
    g = np.convolve(h, h[::-1])
    return float(np.max(np.abs(g[len(g) // 2::2 * bands][1:])))


def prototype(bands: int, attenuation: float) -> np.ndarray:
    """The prototype low-pass (odd length) for `bands` bands."""
    wc = fmin(lambda w: _leak(w, attenuation, bands), 1 / bands, disp=0)[0]
    return _kaiser_lowpass(float(wc), attenuation)


def filter_bank(bands: int, attenuation: float) -> np.ndarray:
    """(bands, K) cosine-modulated filters, centred in a power-of-two length K."""
    h = prototype(bands, attenuation)
    n = len(h)
    t = np.arange(n) - n // 2
    k = np.arange(bands)[:, None]
    hk = 2 * h * np.cos((2 * k + 1) * math.pi / (2 * bands) * t + (-1.0) ** k * math.pi / 4)
    pad = 2 ** math.ceil(math.log2(n)) - n
    return np.pad(hk, ((0, 0), (pad // 2, pad - pad // 2)))


def reverse_half(bands: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Negate odd bands at even band samples (counted from `offset`, for delayed streams)."""
    sign = torch.ones(bands.shape[-2], 2, dtype=bands.dtype, device=bands.device)
    sign[1::2, offset % 2] = -1
    t = bands.shape[-1]
    mask = sign.repeat(1, (t + 1) // 2)[:, :t]
    return bands * mask


class PQMF(nn.Module):
    """x (B,1,T) <-> bands (B,M,T/M); T must be a multiple of M."""

    def __init__(self, bands: int, attenuation: float = 100.0, causal: bool = False):
        super().__init__()
        if bands < 2 or bands & (bands - 1):
            raise ValueError(f"model.data_size={bands}: PQMF bands must be a power of 2 >= 2")
        self.bands = bands
        hk = torch.tensor(filter_bank(bands, attenuation), dtype=torch.float32)
        taps = hk.shape[-1]
        # Analysis correlates with hk plus one trailing zero (odd length: centred padding).
        self.register_buffer("h_analysis", F.pad(hk, (0, 1))[:, None, :].contiguous())
        # Synthesis is the transposed convolution by hk, scaled by M, read from sample
        # `synthesis_start` of its full output (this equals upstream's polyphase inverse).
        self.register_buffer("h_synthesis", hk[:, None, :].contiguous())
        self.synthesis_start = 0 if causal else taps // 2 - bands
        self.pad = (taps, 0) if causal else (taps // 2, taps // 2)
        self.causal = causal

    @property
    def delay(self) -> int:
        """Samples of delay of analysis + synthesis: M when centred (as upstream's), K causal."""
        return self.h_analysis.shape[-1] - 1 if self.causal else self.bands

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            bands = F.conv1d(F.pad(x.float(), self.pad), self.h_analysis, stride=self.bands)
            return reverse_half(bands)

    def inverse(self, bands: torch.Tensor) -> torch.Tensor:
        """Synthesis: the transposed convolution by `h_synthesis`, computed polyphase.

        Output sample M*q + p only meets the taps p, M + p, 2M + p, ... of each band's filter,
        so the transposed convolution is an ordinary M -> M channel convolution (channel p
        holds phase p) followed by interleaving the channels: several times faster on CPU
        than a strided transposed convolution with one output channel, same values.
        """
        with torch.autocast(bands.device.type, enabled=False):
            bands = reverse_half(bands.float())
            m, taps = self.bands, self.h_synthesis.shape[-1]
            j = -(-taps // m)  # taps per phase
            h = F.pad(self.h_synthesis[:, 0], (0, j * m - taps))  # (band, j*m)
            # weight[p, k, i] = h_k[m * (j - 1 - i) + p]: conv1d correlates, so flip the taps
            weight = h.view(m, j, m).permute(2, 0, 1).flip(-1)
            phases = F.conv1d(F.pad(bands, (j - 1, j - 1)), weight)  # (B, m, T + j - 1)
            y = phases.transpose(1, 2).reshape(bands.shape[0], 1, -1)
            n = bands.shape[-1] * m
            start = self.synthesis_start
            return y[..., start:start + n] * m
