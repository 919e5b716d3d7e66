"""TorchScript parts of a RAVE v2 for nn~: what `ScriptedRAVE` takes for `model.arch: v2`.

The same approach as `streaming.py` for v1 (cached convolutions; a centred layer streams as a
delayed causal one; residual paths and the generator's two heads get delay lines), applied to
v2's layers: weight-normed convolutions, dilated residual units, transposed upsampling, the
amplitude-modulated waveform head, v2's noise synthesiser and acids-rave 2.3.1's PQMF.
"""

from __future__ import annotations

import torch
from torch import nn

from ravejobs.export.streaming import (
    CachedConv1d,
    CachedConvTranspose1d,
    Delay,
    Residual,
    _rounded,
)
from ravejobs.model.v2 import layers
from ravejobs.model.v2.pqmf import PQMFv2


def convert(module: nn.Module, streaming: bool, delay: int = 0) -> tuple[nn.Module, int]:
    """Scriptable equivalent of a v2 layer and its output delay (see streaming.convert)."""
    if isinstance(module, layers.Conv):
        c = module.conv
        extra, out = _rounded(module.pad[1], delay, c.stride[0], streaming)
        return CachedConv1d(c.weight, c.bias, c.stride[0], c.dilation[0], c.groups,
                            module.pad, streaming, extra), out
    if isinstance(module, layers.Upsample):
        c = module.conv
        stride, start = c.stride[0], c.padding[0]
        out = delay * stride + start if streaming else 0
        return CachedConvTranspose1d(c.weight, c.bias, stride, start, 1.0, streaming), out
    if isinstance(module, layers.DilatedUnit):
        unit, after = convert(nn.Sequential(nn.LeakyReLU(layers.SLOPE), module.conv,
                                            nn.LeakyReLU(layers.SLOPE), module.mix),
                              streaming, delay)
        return Residual(unit, after - delay), after
    if isinstance(module, nn.Sequential):
        converted = []
        for m in module:
            layer, delay = convert(m, streaming, delay)
            converted.append(layer)
        return nn.Sequential(*converted), delay
    if isinstance(module, nn.LeakyReLU):
        return nn.LeakyReLU(module.negative_slope), delay
    raise TypeError(f"no streaming equivalent for {type(module).__name__}; "
                    "ravejobs.export.v2.convert needs a case for it")


class Encoder(nn.Module):
    def __init__(self, net: nn.Module, split: bool):
        super().__init__()
        self.net, self.split = net, split

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        """Latent means (the first half of a Gaussian encoder's output)."""
        h = self.net(bands)
        return h[:, : h.shape[1] // 2] if self.split else h


class Noise(nn.Module):
    """v2's noise synthesiser: frames are independent, only its convolutions need caches."""

    def __init__(self, net: nn.Module, data_size: int, taps: int):
        super().__init__()
        self.net, self.data_size, self.taps = net, data_size, taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amp = layers.mod_sigmoid(self.net(x) - 5).permute(0, 2, 1)
        b, frames = amp.shape[0], amp.shape[1]
        amp = amp.reshape(b, frames, self.data_size, -1)
        ir = layers.impulse_response(amp, self.taps)
        out = layers.fft_convolve(torch.rand_like(ir) * 2 - 1, ir).permute(0, 2, 1, 3)
        return out.reshape(b, self.data_size, frames * self.taps)


class Decoder(nn.Module):
    def __init__(self, net: nn.Module, wave: nn.Module, noise: Noise | None, am: bool,
                 delays: tuple[int, int]):
        super().__init__()
        self.net, self.wave, self.noise, self.am = net, wave, noise, am
        self.wave_delay, self.noise_delay = Delay(delays[0]), Delay(delays[1])

    def forward(self, z: torch.Tensor, add_noise: bool) -> torch.Tensor:
        h = self.net(z)
        x = self.wave_delay(self.wave(h))
        if self.am:
            half = x.shape[1] // 2
            x = x[:, :half] * torch.sigmoid(x[:, half:])
        noise = self.noise
        if noise is not None:
            n = self.noise_delay(noise(h))   # runs even when muted: keeps its state
            if add_noise:
                x = x + n
        return torch.tanh(x)


def convert_encoder(encoder: layers.EncoderV2, streaming: bool, delay: int = 0,
                    split: bool = True) -> tuple[Encoder, int]:
    net, out = convert(encoder.net, streaming, delay)
    return Encoder(net, split), out


def convert_decoder(decoder: layers.GeneratorV2, streaming: bool) -> tuple[Decoder, int]:
    """The generator and its output delay in band samples, for latents with no delay."""
    net, dh = convert(decoder.net, streaming)
    wave, dw = convert(decoder.wave, streaming, dh)
    noise, dn = None, 0
    if decoder.noise is not None:
        noise_net, frames = convert(decoder.noise.net, streaming, dh)
        noise = Noise(noise_net, decoder.noise.data_size, decoder.noise.taps)
        dn = frames * decoder.noise.taps
    total = max(dw, dn)
    return Decoder(net, wave, noise, decoder.amplitude_modulation,
                   (total - dw, total - dn)), total


def _signs(x: torch.Tensor, parity: int) -> torch.Tensor:
    """-1 for odd bands at band samples whose whole-signal index is even: a signal delayed by
    d samples has them at indices of parity d % 2 (buffers hold even sample counts)."""
    sign = torch.ones(x.shape[1], x.shape[2], dtype=x.dtype, device=x.device)
    sign[1::2, parity::2] = -1.0
    return sign


class Analysis(nn.Module):
    def __init__(self, conv: CachedConv1d, parity: int):
        super().__init__()
        self.conv, self.parity = conv, parity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * _signs(y, self.parity)


class Synthesis(nn.Module):
    def __init__(self, conv: CachedConv1d, bands: int):
        super().__init__()
        self.conv, self.bands = conv, bands
        self.parity = 0  # the delay of its input; set by ScriptedRAVE from the decoder's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sign = _signs(x, self.parity)
        y = (self.conv(x * sign) * self.bands).flip(1).transpose(1, 2)
        return y.reshape(y.shape[0], 1, -1)


class StreamPQMF(nn.Module):
    """acids-rave 2.3.1's PQMF with caches; delays as `streaming.StreamPQMF` reports them.

    The sign flips of odd bands are applied per call at even sample indices, so buffers must
    hold an even number of band samples (nn~ buffers are powers of two)."""

    def __init__(self, pqmf: PQMFv2, streaming: bool):
        super().__init__()
        m = pqmf.bands
        extra, self.analysis_delay = _rounded(pqmf.pad_analysis[1], 0, m, streaming)
        self.analysis = Analysis(CachedConv1d(pqmf.h_analysis, None, m, 1, 1,
                                              pqmf.pad_analysis, streaming, extra),
                                 self.analysis_delay % 2)
        self.synthesis = Synthesis(CachedConv1d(pqmf.h_synthesis, None, 1, 1, 1,
                                                pqmf.pad_synthesis, streaming), m)
        self.synthesis_start = pqmf.pad_synthesis[1] * m if streaming else 0
