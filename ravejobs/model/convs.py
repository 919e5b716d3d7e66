"""Every convolution of the model goes through these two classes.

Why one place: streaming export (nn~ with `no_latency`) needs cached convolutions that keep the
tail of the previous buffer instead of zero padding. Padding is explicit here (`self.pad`), so an
export engineer can swap it for a cache without touching the encoder, decoder or PQMF.

`causal=True` puts all padding on the left (no look-ahead), which is what `no_latency` asks for.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class Conv1d(nn.Module):
    """Conv1d with 'same'-style explicit padding (output length = ceil(T / stride))."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                 dilation: int = 1, groups: int = 1, bias: bool = True, causal: bool = False,
                 norm: bool = True):
        super().__init__()
        total = dilation * (kernel - 1)
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)
        # Symmetric padding is left to the convolution itself (saves a copy of the input).
        inner = self.pad[0] if self.pad[0] == self.pad[1] else 0
        self.explicit = inner == 0 and total > 0
        conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, dilation=dilation,
                         groups=groups, bias=bias, padding=inner)
        self.conv = weight_norm(conv) if norm else conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad) if self.explicit else x)


class ConvTranspose1d(nn.Module):
    """Upsampling by `stride` with kernel 2*stride; output length = T * stride exactly."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, bias: bool = True,
                 causal: bool = False, norm: bool = True):
        super().__init__()
        conv = nn.ConvTranspose1d(in_ch, out_ch, 2 * stride, stride=stride, bias=bias)
        self.conv = weight_norm(conv) if norm else conv
        self.stride = stride
        # The full transposed output is T*stride + stride long; keep T*stride of it.
        self.crop = 0 if causal else stride // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        n = x.shape[-1] * self.stride
        return y[..., self.crop:self.crop + n]
