"""The receptive field of encode -> decode, measured by a gradient (upstream's method).

One output sample in the middle of a random signal is differentiated with respect to the
input; the input samples with a non-zero gradient left and right of the middle are the
receptive field. The signal doubles from 2**15 samples until the gradient vanishes at both
ends. The latent is mean + std (no sampling), and the global random state is left untouched.
"""

from __future__ import annotations

from typing import Any

import torch


def measure(model: Any, start: int = 2 ** 15, limit: int = 2 ** 22) -> tuple[int, int]:
    """(left, right) receptive field in samples of `model` (a RAVEv2)."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(0)
    device = next(model.parameters()).device
    n = start
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            while True:
                x = torch.randn(1, 1, n, generator=generator).to(device).requires_grad_(True)
                mean, scale = model.latent_params(model.analyse(x))
                z = mean if scale is None else mean + torch.nn.functional.softplus(scale)
                y = model.decode(z)
                (grad,) = torch.autograd.grad(y[0, 0, n // 2], x)
                left, right = grad.reshape(-1).chunk(2)
                if (left[0] == 0 and right[-1] == 0) or n >= limit:
                    return int((left != 0).sum()), int((right != 0).sum())
                n *= 2
    finally:
        model.train(was_training)
