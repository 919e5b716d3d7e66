"""STFT magnitudes and the spectral distance, with hand-written backwards: the losses' hot path.

`torch.stft(...).abs()` under torch's autograd is correct but slow on CPU: the backward of a
one-sided real FFT pads the gradient to a full spectrum and runs a complex FFT, the backward of
the strided framing scatters through a generic path, and every elementwise step of the loss is
one more pass over the spectrogram. In a RAVE v1 step that took about a third of the time.

Here the adjoint of a one-sided real FFT is one inverse real FFT (with the middle bins halved,
because `irfft` counts them twice) and the adjoint of framing is an overlap-add of
`ceil(n / hop)` shifted slices. The spectral distance computes its gradient with respect to the
magnitudes in closed form while the forward's buffers are at hand.

Values and gradients equal those of the same formulas on `torch.stft(x, n, hop, n, hann,
center=True, pad_mode="reflect", normalized=..., return_complex=True).abs()` under torch's
autograd (tests/test_model_stft.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EPS = 1e-7  # inside the log of the log distance and below the norm of the linear one
_ADJOINT_NORM = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _spectrum(padded: torch.Tensor, window: torch.Tensor, hop: int, norm: str) -> torch.Tensor:
    """(B, T) padded signal -> (B, frames, bins) complex spectrum of its windowed frames."""
    return torch.fft.rfft(padded.unfold(-1, window.shape[-1], hop) * window, norm=norm)


def _magnitude(spec: torch.Tensor) -> torch.Tensor:
    return spec.real.square().add_(spec.imag.square()).sqrt_()  # twice as fast as .abs()


def _per_magnitude_to_per_bin(coef: torch.Tensor, mag: torch.Tensor, n: int) -> torch.Tensor:
    """Turn d loss / d |S| into the real factor f with d loss / d S = f * S, in place.

    d|S| / dS = S / |S|; where |S| is 0, S is 0 too and the gradient is 0 (as torch.sgn). The
    middle bins are halved here because `irfft` counts them twice.
    """
    # masked: coef / tiny overflows to inf, and inf * S (= 0) would be NaN, not 0
    coef.div_(mag.clamp_min(torch.finfo(mag.dtype).tiny)).masked_fill_(mag == 0, 0)
    coef[..., 1:n - n // 2] *= 0.5  # all but DC and, for even n, Nyquist
    return coef


def _spectrum_to_signal(spec: torch.Tensor, factor: torch.Tensor, window: torch.Tensor,
                        hop: int, norm: str, length: int) -> torch.Tensor:
    """The adjoint of `_spectrum` applied to factor * spec: a gradient on the padded signal."""
    # Real arithmetic on the (re, im) pairs: a complex-by-real product would first copy the
    # real factor into a complex tensor.
    grad = torch.view_as_complex(torch.view_as_real(spec) * factor.unsqueeze(-1))
    frames = torch.fft.irfft(grad, window.shape[-1], norm=_ADJOINT_NORM[norm]) * window
    return overlap_add(frames, hop, length)


class _FramedMagnitude(torch.autograd.Function):
    """|rfft(frames(x) * window)| for an already padded (B, T) signal."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, window: torch.Tensor, hop: int,  # type: ignore[override]
                norm: str) -> torch.Tensor:
        spec = _spectrum(x, window, hop, norm)
        mag = _magnitude(spec)
        ctx.save_for_backward(spec, mag, window)
        ctx.hop, ctx.norm, ctx.length = hop, norm, x.shape[-1]
        return mag.transpose(-1, -2)  # (B, bins, frames), as torch.stft

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        spec, mag, window = ctx.saved_tensors
        factor = _per_magnitude_to_per_bin(grad.transpose(-1, -2).clone(), mag,
                                           window.shape[-1])
        return (_spectrum_to_signal(spec, factor, window, ctx.hop, ctx.norm, ctx.length),
                None, None, None)


class _LogLinearDistance(torch.autograd.Function):
    """||Sx - Sy|| / ||Sx|| + mean |log(Sx + eps) - log(Sy + eps)| for padded (B, T) signals.

    Only `y` (the reconstruction) gets a gradient: `x` is the target.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor,  # type: ignore[override]
                window: torch.Tensor, hop: int, norm: str) -> torch.Tensor:
        if ctx.needs_input_grad[0]:
            raise ValueError("spectral distance: the target (first argument) takes no gradient")
        sx = _magnitude(_spectrum(x, window, hop, norm))
        spec = _spectrum(y, window, hop, norm)
        sy = _magnitude(spec)
        x_norm = torch.linalg.vector_norm(sx).clamp_min(EPS)
        log_gap = (sx + EPS).log_()
        sy_eps = sy + EPS
        log_gap.sub_(torch.log(sy_eps))
        log_term = log_gap.abs().mean()
        gap = sx.sub_(sy)  # sx is not needed any more
        gap_norm = torch.linalg.vector_norm(gap)
        if ctx.needs_input_grad[1]:
            # d/dSy of the log term: -sign(log gap) / (count * (Sy + eps));
            # of the linear term: -(Sx - Sy) / (||Sx - Sy|| * ||Sx||).
            coef = log_gap.sign_().div_(sy_eps).div_(-log_gap.numel())
            coef.sub_(gap.mul_(1 / (gap_norm.clamp_min(torch.finfo(gap.dtype).tiny) * x_norm)))
            ctx.save_for_backward(spec, _per_magnitude_to_per_bin(coef, sy, window.shape[-1]),
                                  window)
            ctx.hop, ctx.norm, ctx.length = hop, norm, y.shape[-1]
        return gap_norm / x_norm + log_term

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        spec, factor, window = ctx.saved_tensors
        dy = _spectrum_to_signal(spec, factor, window, ctx.hop, ctx.norm, ctx.length)
        return None, dy.mul_(grad), None, None, None


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


def _centred(x: torch.Tensor, n: int) -> torch.Tensor:
    """Reflect-pad (B, T) by n // 2 on each side, as torch.stft(center=True) does."""
    return F.pad(x.unsqueeze(1), (n // 2, n // 2), mode="reflect").squeeze(1)


def _hann(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.hann_window(n, dtype=like.dtype, device=like.device)


def stft_magnitude(x: torch.Tensor, n: int, hop: int, normalized: bool = False) -> torch.Tensor:
    """(B, T) -> (B, n // 2 + 1, frames): centred, reflect-padded, Hann-windowed magnitudes."""
    return _FramedMagnitude.apply(_centred(x, n), _hann(n, x), hop,
                                  "ortho" if normalized else "backward")


def log_linear_distance(x: torch.Tensor, y: torch.Tensor, n: int, hop: int,
                        normalized: bool = False) -> torch.Tensor:
    """Upstream's spectral distance at one scale between target x and reconstruction y (B, T):
    ||Sx - Sy|| / ||Sx|| + mean |log(Sx + eps) - log(Sy + eps)|, S = `stft_magnitude`."""
    return _LogLinearDistance.apply(_centred(x, n), _centred(y, n), _hann(n, x), hop,
                                    "ortho" if normalized else "backward")
