"""RAVE v2's encoder and generator (acids-rave 2.3.1's `EncoderV2`, `GeneratorV2`), our own code.

Both are stacks of residual dilated units between strided convolutions: the encoder halves
time by each ratio and doubles the channels (capacity -> capacity * 2**len(ratios)), the
generator mirrors it. Every convolution of the generator and encoder is weight-normalised and
bias-free, as upstream's configs (`cc.Conv1d.bias = False`); the noise synthesiser's convolutions
have neither weight norm nor bias.

Padding follows upstream's `get_padding`: a kernel spanning `span = (k - 1) * dilation + 1`
samples gets `(span - 1) // 2` zeros on the left and `span // 2` on the right, or all `span - 1`
on the left when causal. Transposed convolutions crop `ratio // 2` on each side in both modes
(upstream does not make them causal either).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

SLOPE = 0.2


def padding(kernel: int, dilation: int = 1, causal: bool = False) -> tuple[int, int]:
    """(left, right) zeros for a 'same' convolution, as described in the module docstring."""
    total = (kernel - 1) * dilation
    return (total, 0) if causal else (total // 2, total - total // 2)


class Conv(nn.Module):
    """Conv1d with explicit padding, optional weight norm; `pad` overrides the computed one."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                 dilation: int = 1, causal: bool = False, norm: bool = True, bias: bool = False,
                 pad: tuple[int, int] | None = None):
        super().__init__()
        self.pad = pad if pad is not None else padding(kernel, dilation, causal)
        same = self.pad[0] == self.pad[1]
        conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, dilation=dilation, bias=bias,
                         padding=self.pad[0] if same else 0)
        self.explicit = not same
        self.conv = weight_norm(conv) if norm else conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad) if self.explicit else x)


class Upsample(nn.Module):
    """Transposed convolution, kernel 2r, stride r, cropping r // 2 each side (length T*r)."""

    def __init__(self, in_ch: int, out_ch: int, ratio: int):
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(in_ch, out_ch, 2 * ratio, stride=ratio,
                                                   padding=ratio // 2, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class DilatedUnit(nn.Module):
    """x + conv1x1(act(conv_k,d(act(x)))): upstream's `Residual(DilatedUnit)`."""

    def __init__(self, dim: int, kernel: int, dilation: int, causal: bool):
        super().__init__()
        self.conv = Conv(dim, dim, kernel, dilation=dilation, causal=causal)
        self.mix = Conv(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(F.leaky_relu(x, SLOPE))
        return x + self.mix(F.leaky_relu(h, SLOPE, inplace=True))


class EncoderV2(nn.Module):
    """PQMF bands (B, data_size, T) -> (B, n_out * latent_size, T / prod(ratios))."""

    def __init__(self, data_size: int, capacity: int, ratios: tuple[int, ...],
                 latent_size: int, n_out: int, kernel: int,
                 dilations: tuple[tuple[int, ...], ...], causal: bool = False):
        super().__init__()
        layers: list[nn.Module] = [Conv(data_size, capacity, 2 * kernel + 1, causal=causal)]
        dim = capacity
        for r, dils in zip(ratios, dilations, strict=True):
            layers += [DilatedUnit(dim, kernel, d, causal) for d in dils]
            layers += [nn.LeakyReLU(SLOPE), Conv(dim, 2 * dim, 2 * r, stride=r, causal=causal)]
            dim *= 2
        layers += [nn.LeakyReLU(SLOPE), Conv(dim, latent_size * n_out, kernel, causal=causal)]
        self.net = nn.Sequential(*layers)

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        return self.net(bands)


class NoiseV2(nn.Module):
    """Filtered noise per band: strided convolutions -> band amplitudes -> FIR on white noise.

    Upstream's `NoiseGeneratorV2`: convolutions of kernel 2r, stride r, left padding r (the
    last is `data_size * noise_bands` wide), amplitudes `mod_sigmoid(h - 5)`, one zero-phase
    Hann-windowed impulse response of prod(ratios) taps per frame and band, convolved with
    uniform noise in [-1, 1) by FFT. Random numbers: one `rand_like` of (B, frames, bands, taps).
    """

    def __init__(self, in_size: int, hidden: int, data_size: int, ratios: tuple[int, ...],
                 noise_bands: int):
        super().__init__()
        channels = [in_size] + [hidden] * (len(ratios) - 1) + [data_size * noise_bands]
        layers: list[nn.Module] = []
        for i, r in enumerate(ratios):
            layers.append(Conv(channels[i], channels[i + 1], 2 * r, stride=r, norm=False,
                               pad=(r, 0)))
            if i < len(ratios) - 1:
                layers.append(nn.LeakyReLU(SLOPE))
        self.net = nn.Sequential(*layers)
        self.data_size = data_size
        self.taps = 1
        for r in ratios:
            self.taps *= r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amp = mod_sigmoid(self.net(x) - 5).permute(0, 2, 1)
        amp = amp.reshape(amp.shape[0], amp.shape[1], self.data_size, -1)
        ir = impulse_response(amp, self.taps)
        noise = torch.rand_like(ir) * 2 - 1
        out = fft_convolve(noise, ir).permute(0, 2, 1, 3)
        return out.reshape(out.shape[0], out.shape[1], -1)


def mod_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return 2 * torch.sigmoid(x) ** 2.3 + 1e-7


def impulse_response(amp: torch.Tensor, taps: int) -> torch.Tensor:
    """Magnitudes over the last axis -> zero-phase, Hann-windowed FIR of `taps` samples."""
    ir = torch.fft.irfft(torch.complex(amp, torch.zeros_like(amp)))
    n = ir.shape[-1]
    ir = torch.roll(ir, n // 2, -1) * torch.hann_window(n, dtype=ir.dtype, device=ir.device)
    ir = F.pad(ir, (0, taps - n))
    return torch.roll(ir, -n // 2, -1)


def fft_convolve(signal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Causal linear convolution of equal-length last axes, keeping the signal's length."""
    signal = F.pad(signal, (0, signal.shape[-1]))
    kernel = F.pad(kernel, (kernel.shape[-1], 0))
    out = torch.fft.irfft(torch.fft.rfft(signal) * torch.fft.rfft(kernel))
    return out[..., out.shape[-1] // 2:]


class GeneratorV2(nn.Module):
    """Latent (B, latent, frames) -> PQMF bands (B, data_size, frames * prod(ratios)) in (-1, 1).

    With `amplitude_modulation` the last convolution gives 2 x data_size channels, a waveform
    and a gate: bands = tanh(wave * sigmoid(gate) + noise).
    """

    def __init__(self, data_size: int, capacity: int, ratios: tuple[int, ...],
                 latent_size: int, kernel: int, dilations: tuple[tuple[int, ...], ...],
                 amplitude_modulation: bool = True, noise_hidden: int = 0,
                 noise_ratios: tuple[int, ...] = (2, 2, 2), noise_bands: int = 5,
                 causal: bool = False):
        super().__init__()
        dim = 2 ** len(ratios) * capacity
        layers: list[nn.Module] = [Conv(latent_size, dim, kernel, causal=causal)]
        for r, dils in zip(ratios[::-1], dilations[::-1], strict=True):
            layers += [nn.LeakyReLU(SLOPE), Upsample(dim, dim // 2, r)]
            dim //= 2
            layers += [DilatedUnit(dim, kernel, d, causal) for d in dils]
        layers.append(nn.LeakyReLU(SLOPE))
        self.net = nn.Sequential(*layers)
        self.wave = Conv(dim, data_size * (2 if amplitude_modulation else 1), 2 * kernel + 1,
                         causal=causal)
        self.noise = (NoiseV2(dim, noise_hidden, data_size, noise_ratios, noise_bands)
                      if noise_hidden else None)
        self.amplitude_modulation = amplitude_modulation

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.net(z)
        noise = self.noise(h) if self.noise is not None else None
        x = self.wave(h)
        if self.amplitude_modulation:
            x, gate = x.chunk(2, 1)
            x = x * torch.sigmoid(gate)
        if noise is not None:
            x = x + noise
        return torch.tanh(x)
