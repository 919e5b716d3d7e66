"""Shared fixtures for the prior tests: a synthetic latent process and a stand-in encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ravejobs.config import PriorSpec


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: tiny ops on a shared 2-core machine are slower with a spinning pool,
    and the same reduction order keeps bitwise comparisons meaningful."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# conf/prior/demo.yaml
DEMO = PriorSpec(resolution=32, res_size=16, skp_size=8, kernel_size=3, cycle_size=4,
                 n_layers=4, batch=4, n_frames=32, max_steps=40, lr=1e-3)


def ar_latents(frames: int, k: int = 4, seed: int = 0, rho: float = 0.95) -> np.ndarray:
    """float32 [frames, k]: unit-variance AR(1) per dimension, dimension i+1 following i."""
    rng = np.random.default_rng(seed)
    z = np.zeros((frames, k), np.float32)
    noise = rng.standard_normal((frames, k)) * np.sqrt(1 - rho**2)
    for t in range(1, frames):
        z[t] = rho * z[t - 1] + noise[t]
    z[:, 1:] = 0.7 * z[:, :-1] + np.sqrt(1 - 0.49) * z[:, 1:]
    return z


class StandInEncoder(nn.Module):
    """Same `encode` signature as TrainedRAVE: strided conv, hop samples per frame."""

    def __init__(self, hop: int = 64, latent_size: int = 4, sr: int = 16000):
        super().__init__()
        torch.manual_seed(0)
        self.hop, self.latent_size, self.sr = hop, latent_size, sr
        self.conv = nn.Conv1d(1, latent_size, hop, stride=hop)
        self.calls = 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.tanh(self.conv(x)) * 2


class StandInRAVE:
    """A stand-in TrainedRAVE (same attributes) for job tests that do not need a real model."""

    def __init__(self, phase: str = "gan", hop: int = 64, latent_size: int = 4,
                 sr: int = 16000, step: int = 100, checkpoint_path: str = "/ckpt/last.ckpt"):
        self.encoder = StandInEncoder(hop, latent_size, sr)
        self.phase, self.step, self.checkpoint_path = phase, step, checkpoint_path
        self.hop, self.latent_size, self.sr = hop, latent_size, sr

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(z.shape[0], 1, z.shape[-1] * self.hop)
