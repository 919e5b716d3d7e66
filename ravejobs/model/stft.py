"""Magnitude STFT with a hand-written backward: the spectral losses' hot path.

`torch.stft(...).abs()` is correct but its autograd is slow on CPU: the backward of a one-sided
real FFT pads the gradient to a full spectrum and runs a complex FFT, and the backward of the
strided framing scatters through a generic path. In a RAVE v1 step those two took about a third
of the time. The adjoint of a one-sided real FFT is itself one inverse real FFT (with the
middle bins halved, because `irfft` counts them twice), and the adjoint of framing is an
overlap-add of `ceil(n / hop)` shifted slices; that is what `backward` below does.

Values and gradients equal `torch.stft(x, n, hop, n, hann, center=True, pad_mode="reflect",
normalized=..., return_complex=True).abs()` (checked in tests/test_model_stft.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class _FramedMagnitude(torch.autograd.Function):
    """|rfft(frames(x) * window)| for an already padded (B, T) signal."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, window: torch.Tensor, hop: int,  # type: ignore[override]
                norm: str) -> torch.Tensor:
        n = window.shape[-1]
        spec = torch.fft.rfft(x.unfold(-1, n, hop) * window, norm=norm)  # (B, frames, bins)
        mag = spec.real.square().add_(spec.imag.square()).sqrt_()  # twice as fast as .abs()
        ctx.save_for_backward(spec, mag, window)
        ctx.hop, ctx.norm, ctx.length = hop, norm, x.shape[-1]
        return mag.transpose(-1, -2)  # (B, bins, frames), as torch.stft

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        spec, mag, window = ctx.saved_tensors
        n, hop = window.shape[-1], ctx.hop
        # d|S| / dS = S / |S|; where |S| is 0, S is 0 too and the gradient is 0 (as torch.sgn).
        coef = grad.transpose(-1, -2) / mag.clamp_min(torch.finfo(mag.dtype).tiny)
        coef[..., 1:n - n // 2] *= 0.5  # bins irfft doubles (all but DC and, for even n, Nyquist)
        # Real arithmetic on the (re, im) pairs: a complex-by-real product would first copy the
        # real factor into a complex tensor.
        g = torch.view_as_complex(torch.view_as_real(spec) * coef.unsqueeze(-1))
        adjoint = {"backward": "forward", "forward": "backward", "ortho": "ortho"}[ctx.norm]
        frames = torch.fft.irfft(g, n, norm=adjoint) * window  # (B, frames, n)
        return overlap_add(frames, hop, ctx.length), None, None, None


def overlap_add(frames: torch.Tensor, hop: int, length: int) -> torch.Tensor:
    """Sum (B, F, n) frames placed every `hop` samples into (B, length): framing's adjoint."""
    b, count, n = frames.shape
    r = math.ceil(n / hop)
    if r * hop != n:
        frames = F.pad(frames, (0, r * hop - n))
    chunks = frames.view(b, count, r, hop)
    out = frames.new_zeros(b, count + r - 1, hop)
    for q in range(r):
        out[:, q:q + count] += chunks[:, :, q]
    out = out.view(b, -1)
    return out[:, :length] if out.shape[-1] >= length else F.pad(out, (0, length - out.shape[-1]))


def stft_magnitude(x: torch.Tensor, n: int, hop: int, normalized: bool = False) -> torch.Tensor:
    """(B, T) -> (B, n // 2 + 1, frames): centred, reflect-padded, Hann-windowed magnitudes."""
    padded = F.pad(x.unsqueeze(1), (n // 2, n // 2), mode="reflect").squeeze(1)
    window = torch.hann_window(n, dtype=x.dtype, device=x.device)
    return _FramedMagnitude.apply(padded, window, hop, "ortho" if normalized else "backward")
