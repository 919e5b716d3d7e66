"""TorchScript-able copies of a trained RAVE's layers, with cached convolutions for streaming.

nn~ hands the model one buffer at a time (2048 samples by default). A zero-padded convolution
would see silence before every buffer and click at each boundary. A *cached* convolution keeps
the last `pad` input samples of the previous buffer instead, so buffer after buffer gives the
same output as the whole signal at once. That only works for causal layers (all padding on the
left, `no_latency: true`): a centred layer needs samples that have not arrived yet.

We do not touch `ravejobs.model`: `convert_*` read a trained model's modules (weight norm
folded into plain weights) and build equivalents here. Every layer takes `streaming`:
  * True  (causal models): caches carry state from call to call, reset on `reset()` or when the
    batch size changes;
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
from ravejobs.model.pqmf import PQMF


def _plain(weight: torch.Tensor) -> nn.Parameter:
    """A frozen copy of an (evaluated, weight-normed) weight."""
    return nn.Parameter(weight.detach().clone().float(), requires_grad=False)


class CachedConv1d(nn.Module):
    """Conv1d with explicit (left, right) padding; in streaming mode the left pad is a cache."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                 dilation: int, groups: int, pad: tuple[int, int], streaming: bool):
        super().__init__()
        if streaming and pad[1] != 0:
            raise ValueError(f"a cached convolution needs causal padding, got {pad}; export a "
                             "model trained with model.no_latency=true to stream it")
        self.weight = _plain(weight)
        self.bias = _plain(bias) if bias is not None else None
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.left, self.right = pad
        self.streaming = streaming
        self.register_buffer("cache", torch.zeros(0, weight.shape[1] * groups, pad[0]))

    def reset(self) -> None:
        self.cache = torch.zeros(0, self.cache.shape[1], self.left)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.streaming:
            if self.cache.shape[0] != x.shape[0]:
                self.cache = torch.zeros(x.shape[0], x.shape[1], self.left, dtype=x.dtype,
                                         device=x.device)
            x = torch.cat([self.cache, x], -1)
            if self.left > 0:
                self.cache = x[..., x.shape[-1] - self.left:].detach()
        else:
            x = F.pad(x, [self.left, self.right])
        if self.dilation > 1 and self.groups == 1:
            return self.unfolded(x)
        return F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def unfolded(self, x: torch.Tensor) -> torch.Tensor:
        """Dilated conv as gathered taps and one matmul: torch's CPU path for dilated conv1d
        (slow_conv_dilated2d) costs about twice as much at RAVE's per-buffer sizes."""
        k = self.weight.shape[-1]
        frames = (x.shape[-1] - self.dilation * (k - 1) - 1) // self.stride + 1
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
    the last c input frames.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                 start: int, scale: float, streaming: bool):
        super().__init__()
        if streaming and start != 0:
            raise ValueError("a cached transposed convolution needs a causal layer (crop 0); "
                             "export a model trained with model.no_latency=true to stream it")
        c_in, c_out, kernel = weight.shape
        taps = math.ceil(kernel / stride)
        w = F.pad(weight.detach().float() * scale, [0, taps * stride - kernel])
        # poly[o * stride + j, c, taps - 1 - m] = weight[c, o, m * stride + j]
        poly = w.reshape(c_in, c_out, taps, stride).permute(1, 3, 0, 2).flip(-1)
        self.weight = _plain(poly.reshape(c_out * stride, c_in, taps))
        self.bias = (_plain(bias.detach().float().repeat_interleave(stride) * scale)
                     if bias is not None else None)
        self.stride, self.start, self.out_channels = stride, start, c_out
        self.context = taps - 1
        self.ahead = math.ceil(start / stride)   # extra frames a centred crop reaches into
        self.streaming = streaming
        self.register_buffer("cache", torch.zeros(0, c_in, self.context))

    def reset(self) -> None:
        self.cache = torch.zeros(0, self.cache.shape[1], self.context)

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


class ResidualStack(nn.Module):
    def __init__(self, units: list[nn.Module]):
        super().__init__()
        self.units = nn.ModuleList(units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.units:
            x = x + unit(x)
        return x


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
        """Latent means (B, kept, frames); the scale half is not needed at inference."""
        h = self.net(bands)
        return h[:, : h.shape[1] // 2]


class StreamDecoder(nn.Module):
    def __init__(self, net: nn.Module, wave: nn.Module, loud: nn.Module, loud_stride: int,
                 noise: NoiseSynth | None):
        super().__init__()
        self.net, self.wave, self.loud = net, wave, loud
        self.loud_stride = loud_stride
        self.noise = noise

    def forward(self, z: torch.Tensor, add_noise: bool) -> torch.Tensor:
        h = self.net(z)
        loud = self.loud(h)
        if self.loud_stride > 1:
            loud = loud.repeat_interleave(self.loud_stride, dim=-1)[..., :h.shape[-1]]
        y = torch.tanh(self.wave(h)) * blocks.mod_sigmoid(loud)
        if add_noise and self.noise is not None:
            y = y + self.noise(h)
        return y


class StreamPQMF(nn.Module):
    """Analysis (x -> bands) and synthesis (bands -> x) with their own caches."""

    def __init__(self, pqmf: PQMF, streaming: bool):
        super().__init__()
        m = pqmf.bands
        self.analysis = CachedConv1d(pqmf.h_analysis, None, m, 1, 1, pqmf.pad, streaming)
        start = 0 if pqmf.causal else (pqmf.h_synthesis.shape[-1] - 1) // 2
        self.synthesis = CachedConvTranspose1d(pqmf.h_synthesis, None, m, start, float(m),
                                               streaming)


# ---------------------------------------------------------------------------- conversion


def convert(module: nn.Module, streaming: bool) -> nn.Module:
    """A scriptable equivalent of one of the model's layers (recursively)."""
    if isinstance(module, convs.Conv1d):
        c = module.conv
        return CachedConv1d(c.weight, c.bias, c.stride[0], c.dilation[0], c.groups,
                            module.pad, streaming)
    if isinstance(module, convs.ConvTranspose1d):
        c = module.conv
        return CachedConvTranspose1d(c.weight, c.bias, module.stride, module.crop, 1.0,
                                     streaming)
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*(convert(m, streaming) for m in module))
    if isinstance(module, blocks.ResidualStack):
        return ResidualStack([convert(u, streaming) for u in module.units])
    if isinstance(module, blocks.Upsample):
        return nn.Sequential(nn.LeakyReLU(0.2), convert(module.conv, streaming))
    if isinstance(module, nn.LeakyReLU):
        return nn.LeakyReLU(module.negative_slope)
    if isinstance(module, nn.BatchNorm1d):
        bn = nn.BatchNorm1d(module.num_features, module.eps)
        bn.load_state_dict(module.state_dict())
        return bn.eval()
    raise TypeError(f"no streaming equivalent for {type(module).__name__}; "
                    "ravejobs.export.streaming.convert needs a case for it")


def convert_encoder(encoder: Encoder, streaming: bool) -> StreamEncoder:
    return StreamEncoder(convert(encoder.net, streaming))


def convert_decoder(decoder: Decoder, streaming: bool) -> StreamDecoder:
    noise = None
    if decoder.noise is not None:
        noise = NoiseSynth(convert(decoder.noise.net, streaming), decoder.noise.data_size,
                           decoder.noise.hop)
    return StreamDecoder(convert(decoder.net, streaming), convert(decoder.wave, streaming),
                         convert(decoder.loud, streaming), decoder.loud_stride, noise)


def reset_caches(module: nn.Module) -> None:
    """Forget every cache (Python side; the scripted model has its own `reset`)."""
    for m in module.modules():
        if isinstance(m, CachedConv1d | CachedConvTranspose1d):
            m.reset()
