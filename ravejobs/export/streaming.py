"""TorchScript-able copies of a trained RAVE's layers, with cached convolutions for streaming.

nn~ hands the model one buffer at a time (2048 samples by default). A zero-padded convolution
would see silence before every buffer and click at each boundary. A *cached* convolution keeps
the last input samples of the previous buffer instead, so buffer after buffer gives the same
output as the whole signal at once.

Causal layers (`no_latency: true`, all padding on the left) stream with no delay. A centred
layer with padding (left, right) needs `right` samples that have not arrived yet: it streams as
a causal layer whose cache holds left + right (+ extra) samples, i.e. its output is the
whole-signal output delayed. `convert` tracks that delay through the network (in samples at each
layer's own rate): strided layers get `extra` cache samples so the delay stays a whole number of
output frames; residual paths and the decoder's parallel heads get delay lines to stay aligned.
This is upstream cached_conv's approach (latency for centred models), written for our layers.

We do not touch `ravejobs.model`: `convert_*` read a trained model's modules (weight norm
folded into plain weights) and build equivalents here. Every layer takes `streaming`:
  * True: caches carry state from call to call (a new batch size starts a new stream);
  * False: each call is processed on its own with zero padding, exactly like the training code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ravejobs.model import blocks, convs
from ravejobs.model.decoder import Decoder
from ravejobs.model.encoder import Encoder
from ravejobs.model.pqmf import PQMF, reverse_half


def _plain(weight: torch.Tensor) -> nn.Parameter:
    """A frozen copy of an (evaluated, weight-normed) weight."""
    return nn.Parameter(weight.detach().clone().float(), requires_grad=False)


class CachedConv1d(nn.Module):
    """Conv1d with explicit (left, right) padding; in streaming mode the left pad is a cache."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                 dilation: int, groups: int, pad: tuple[int, int], streaming: bool,
                 extra: int = 0):
        super().__init__()
        self.weight = _plain(weight)
        self.bias = _plain(bias) if bias is not None else None
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.left, self.right = pad
        self.keep = pad[0] + pad[1] + extra   # streaming: all padding becomes cache
        self.streaming = streaming
        self.register_buffer("cache", torch.zeros(0, weight.shape[1] * groups, self.keep))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.streaming:
            frames = x.shape[-1] // self.stride   # buffers are whole numbers of frames
            if self.cache.shape[0] != x.shape[0]:
                self.cache = torch.zeros(x.shape[0], x.shape[1], self.keep, dtype=x.dtype,
                                         device=x.device)
            x = torch.cat([self.cache, x], -1)
            if self.keep > 0:
                self.cache = x[..., x.shape[-1] - self.keep:].detach()
        else:
            x = F.pad(x, [self.left, self.right])
            frames = (x.shape[-1] - self.dilation * (self.weight.shape[-1] - 1) - 1) \
                // self.stride + 1
        if self.dilation > 1 and self.groups == 1:
            return self.unfolded(x, frames)
        y = F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return y[..., :frames]

    def unfolded(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """Dilated conv as gathered taps and one matmul: torch's CPU path for dilated conv1d
        (slow_conv_dilated2d) costs about twice as much at RAVE's per-buffer sizes."""
        k = self.weight.shape[-1]
        span = (frames - 1) * self.stride + 1
        taps = [x[..., m * self.dilation:m * self.dilation + span:self.stride] for m in range(k)]
        cols = torch.stack(taps, 2).reshape(x.shape[0], -1, frames)
        y = torch.matmul(self.weight.reshape(self.weight.shape[0], -1), cols)
        bias = self.bias
        return y + bias[:, None] if bias is not None else y


class CachedConvTranspose1d(nn.Module):
    """Transposed conv upsampling by `stride`, output length T * stride, cropped from `start`.

    Computed as a polyphase plain convolution (one output channel per (channel, phase)),
    then interleaved: on one CPU core this is 1.5-3x faster than `conv_transpose1d` at the
    sizes RAVE runs per buffer. Output sample n depends on input frames floor(n/stride) - c ..
    floor(n/stride) with c = ceil(kernel/stride) - 1; with start 0 (causal) streaming keeps
    the last c input frames; a centred crop `start` becomes a delay of `start` samples.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                 start: int, scale: float, streaming: bool):
        super().__init__()
        c_in, c_out, kernel = weight.shape
        taps = math.ceil(kernel / stride)
        w = F.pad(weight.detach().float() * scale, [0, taps * stride - kernel])
        # poly[o * stride + j, c, taps - 1 - m] = weight[c, o, m * stride + j]
        poly = w.reshape(c_in, c_out, taps, stride).permute(1, 3, 0, 2).flip(-1)
        self.weight = _plain(poly.reshape(c_out * stride, c_in, taps))
        self.bias = (_plain(bias.detach().float().repeat_interleave(stride) * scale)
                     if bias is not None else None)
        self.stride, self.out_channels = stride, c_out
        self.start = 0 if streaming else start   # streaming: the crop becomes a delay
        self.context = taps - 1
        self.ahead = math.ceil(start / stride)   # extra frames a centred crop reaches into
        self.streaming = streaming
        self.register_buffer("cache", torch.zeros(0, c_in, self.context))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, frames = x.shape[0], x.shape[-1]
        if self.streaming:
            if self.cache.shape[0] != b:
                self.cache = torch.zeros(b, x.shape[1], self.context, dtype=x.dtype,
                                         device=x.device)
            x = torch.cat([self.cache, x], -1)
            if self.context > 0:
                self.cache = x[..., x.shape[-1] - self.context:].detach()
        else:
            x = F.pad(x, [self.context, self.ahead])
        y = F.conv1d(x, self.weight, self.bias)              # (B, out * stride, frames')
        y = y.reshape(b, self.out_channels, self.stride, -1).transpose(2, 3)
        y = y.reshape(b, self.out_channels, -1)
        return y[..., self.start:self.start + frames * self.stride]


class Delay(nn.Module):
    """A delay line of `n` samples (streaming) that keeps parallel paths aligned."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n
        self.register_buffer("cache", torch.zeros(0, 0, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n == 0:
            return x
        if self.cache.shape[0] != x.shape[0] or self.cache.shape[1] != x.shape[1]:
            self.cache = torch.zeros(x.shape[0], x.shape[1], self.n, dtype=x.dtype,
                                     device=x.device)
        y = torch.cat([self.cache, x], -1)
        self.cache = y[..., y.shape[-1] - self.n:].detach()
        return y[..., :x.shape[-1]]


class Residual(nn.Module):
    """x + unit(x), x delayed by the unit's delay."""

    def __init__(self, unit: nn.Module, delay: int):
        super().__init__()
        self.unit = unit
        self.delay = Delay(delay)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.delay(x) + self.unit(x)


class NoiseSynth(nn.Module):
    """Filtered noise per band; frames are independent, so only its convolutions need caches."""

    def __init__(self, net: nn.Module, data_size: int, hop: int):
        super().__init__()
        self.net = net
        self.data_size, self.hop = data_size, hop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amp = blocks.mod_sigmoid(self.net(x) - 5)
        b, frames = amp.shape[0], amp.shape[-1]
        amp = amp.permute(0, 2, 1).reshape(b, frames, self.data_size, -1)
        ir = blocks.amp_to_impulse_response(amp, self.hop)
        noise = blocks.fft_convolve(torch.rand_like(ir) * 2 - 1, ir)
        return noise.permute(0, 2, 1, 3).reshape(b, self.data_size, frames * self.hop)


class StreamEncoder(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        """Posterior mean and scale stacked (B, 2 * kept, frames), as the encoder gives them."""
        return self.net(bands)


class StreamDecoder(nn.Module):
    def __init__(self, net: nn.Module, wave: nn.Module, loud: nn.Module, loud_stride: int,
                 noise: NoiseSynth | None, delays: tuple[int, int, int] = (0, 0, 0)):
        super().__init__()
        self.net, self.wave, self.loud = net, wave, loud
        self.loud_stride = loud_stride
        self.noise = noise
        # delay lines that align the three heads (wave, loudness, noise) in streaming mode
        self.wave_delay, self.loud_delay, self.noise_delay = (Delay(d) for d in delays)

    def forward(self, z: torch.Tensor, add_noise: bool) -> torch.Tensor:
        h = self.net(z)
        loud = self.loud(h)
        if self.loud_stride > 1:
            loud = loud.repeat_interleave(self.loud_stride, dim=-1)[..., :h.shape[-1]]
        loud = self.loud_delay(loud)
        y = torch.tanh(self.wave_delay(self.wave(h))) * blocks.mod_sigmoid(loud)
        if self.noise is not None:
            noise = self.noise_delay(self.noise(h))   # runs even when muted: keeps its state
            if add_noise:
                y = y + noise
        return y


class StreamPQMF(nn.Module):
    """Analysis (x -> bands) and synthesis (bands -> x) with their own caches.

    `analysis_delay` is in band samples; synthesis adds `synthesis_start` audio samples to the
    delay of its input (times the number of bands). The odd-band sign flip (upstream's
    `reverse_half`) depends on the parity of the band sample, so a delayed stream shifts it:
    `synthesis_parity` is the parity of the synthesis input's delay (set by the exporter).
    """

    def __init__(self, pqmf: PQMF, streaming: bool):
        super().__init__()
        m = pqmf.bands
        extra, self.analysis_delay = _rounded(pqmf.pad[1], 0, m, streaming)
        self.analysis_conv = CachedConv1d(pqmf.h_analysis, None, m, 1, 1, pqmf.pad, streaming,
                                          extra)
        start = pqmf.synthesis_start
        self.synthesis_start = start if streaming else 0
        self.synthesis_conv = CachedConvTranspose1d(pqmf.h_synthesis, None, m, start,
                                                    float(m), streaming)
        self.synthesis_parity = 0

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_half(self.analysis_conv(x), self.analysis_delay)

    def synthesis(self, bands: torch.Tensor) -> torch.Tensor:
        return self.synthesis_conv(reverse_half(bands, self.synthesis_parity))


# ---------------------------------------------------------------------------- conversion


def _rounded(right: int, delay: int, stride: int, streaming: bool) -> tuple[int, int]:
    """(extra cache samples, output delay in output frames) of a strided cached conv."""
    if not streaming:
        return 0, 0
    extra = -(right + delay) % stride
    return extra, (right + delay + extra) // stride


def convert(module: nn.Module, streaming: bool, delay: int = 0) -> tuple[nn.Module, int]:
    """A scriptable equivalent of one of the model's layers (recursively), and the delay of
    its output (in its output's samples) given the delay of its input; 0 when not streaming."""
    if isinstance(module, convs.Conv1d):
        c = module.conv
        extra, out = _rounded(module.pad[1], delay, c.stride[0], streaming)
        return CachedConv1d(c.weight, c.bias, c.stride[0], c.dilation[0], c.groups,
                            module.pad, streaming, extra), out
    if isinstance(module, convs.ConvTranspose1d):
        c = module.conv
        out = delay * module.stride + module.crop if streaming else 0
        return CachedConvTranspose1d(c.weight, c.bias, module.stride, module.crop, 1.0,
                                     streaming), out
    if isinstance(module, nn.Sequential):
        layers = []
        for m in module:
            layer, delay = convert(m, streaming, delay)
            layers.append(layer)
        return nn.Sequential(*layers), delay
    if isinstance(module, blocks.ResidualStack):
        units = []
        for u in module.units:
            unit, after = convert(u, streaming, delay)
            units.append(Residual(unit, after - delay))
            delay = after
        return nn.Sequential(*units), delay
    if isinstance(module, blocks.Upsample):
        conv, delay = convert(module.conv, streaming, delay)
        return nn.Sequential(nn.LeakyReLU(0.2), conv), delay
    if isinstance(module, nn.LeakyReLU):
        return nn.LeakyReLU(module.negative_slope), delay
    if isinstance(module, nn.BatchNorm1d):
        bn = nn.BatchNorm1d(module.num_features, module.eps)
        bn.load_state_dict(module.state_dict())
        return bn.eval(), delay
    raise TypeError(f"no streaming equivalent for {type(module).__name__}; "
                    "ravejobs.export.streaming.convert needs a case for it")


def convert_encoder(encoder: Encoder, streaming: bool, delay: int = 0
                    ) -> tuple[StreamEncoder, int]:
    """The encoder and its output delay in latent frames (input delay in band samples)."""
    net, out = convert(encoder.net, streaming, delay)
    return StreamEncoder(net), out


def convert_decoder(decoder: Decoder, streaming: bool) -> tuple[StreamDecoder, int]:
    """The decoder and its output delay in band samples, for latents with no delay."""
    net, dh = convert(decoder.net, streaming)
    wave, dw = convert(decoder.wave, streaming, dh)
    loud, dl = convert(decoder.loud, streaming, dh)
    dl *= decoder.loud_stride
    noise, dn = None, 0
    if decoder.noise is not None:
        noise_net, frames = convert(decoder.noise.net, streaming, dh)
        noise = NoiseSynth(noise_net, decoder.noise.data_size, decoder.noise.hop)
        dn = frames * decoder.noise.hop
    total = max(dw, dl, dn)
    return (StreamDecoder(net, wave, loud, decoder.loud_stride, noise,
                          (total - dw, total - dl, total - dn)), total)
