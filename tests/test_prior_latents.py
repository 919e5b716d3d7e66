"""The latent store: encode once, record the model, reuse, windows deterministic in (seed, step)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_prior_helpers import StandInEncoder, ar_latents, one_thread  # noqa: F401

from ravejobs.prior.latents import (
    LatentStore,
    LatentWindows,
    ModelRef,
    encode_sources,
    ensure_store,
)

REF = ModelRef(checkpoint="/runs/03-TR-99-DEMO.abcd1234/checkpoints/last.ckpt", step=100,
               signature="abcd1234")

pytestmark = pytest.mark.usefixtures("one_thread")


def sources(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(np.float32) * 0.3 for n in (64 * 300 + 17, 64 * 90)]


def test_encoding_in_chunks_equals_encoding_each_hop(tmp_path):
    enc = StandInEncoder()
    z, segments = encode_sources(enc, sources(), chunk=64 * 50, batch=2, log=lambda m: None)
    assert segments == [(0, 300), (300, 90)] and z.shape == (390, 4)
    audio = sources()[0][:64 * 300]
    with torch.no_grad():
        direct = enc.encode(torch.from_numpy(audio).reshape(1, 1, -1))[0].T.numpy()
    np.testing.assert_allclose(z[:300], direct, rtol=1e-5, atol=1e-6)


def test_store_records_its_model_and_is_reused(tmp_path):
    enc = StandInEncoder()
    folder = tmp_path / "latents with space $x"
    store = ensure_store(folder, enc, REF, sources, corpus="fp1", chunk=64 * 64,
                         log=lambda m: None)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model"] == {"checkpoint": REF.checkpoint, "step": 100, "signature": "abcd1234"}
    assert meta["hop"] == 64 and meta["sr"] == 16000 and meta["frames"] == 390
    assert isinstance(store.z, np.memmap) and store.z.shape == (390, 4)
    calls = enc.calls
    moved = ModelRef("/elsewhere/03-TR-99-DEMO.abcd1234/checkpoints/last.ckpt", 100, "abcd1234")
    again = ensure_store(folder, enc, moved, sources, corpus="fp1", log=lambda m: None)
    assert enc.calls == calls and again.meta == store.meta
    newer = ModelRef(REF.checkpoint, 200, REF.signature)
    messages: list[str] = []
    redone = ensure_store(folder, enc, newer, sources, corpus="fp1", log=messages.append)
    assert enc.calls > calls and redone.meta.model.step == 200
    assert any("encoding again" in m for m in messages)
    assert not list(folder.glob(".tmp-*"))


def test_store_without_meta_is_not_a_store(tmp_path):
    (tmp_path / "z.npy").write_bytes(b"half")
    with pytest.raises(FileNotFoundError, match="meta.json missing"):
        LatentStore(tmp_path)


def test_windows_are_deterministic_in_seed_and_step_and_stay_in_segments():
    z = np.arange(1000, dtype=np.float32)[:, None].repeat(2, 1)
    segments = [(0, 600), (600, 400)]
    w = LatentWindows(z, segments, n_frames=32, seed=7)
    a, b = w.batch(5, 64), w.batch(5, 64)
    assert a.shape == (64, 2, 32) and np.array_equal(a, b)
    assert not np.array_equal(a, w.batch(6, 64))
    assert not np.array_equal(a, LatentWindows(z, segments, 32, seed=8).batch(5, 64))
    firsts = a[:, 0, 0]
    # consecutive frames, never across the 600 boundary, never in the held-out tail
    assert np.all(np.diff(a[:, 0, :], axis=1) == 1)
    assert not np.any((firsts < 600) & (firsts + 32 > 600))
    val = LatentWindows(z, segments, 32, split="val", seed=7)
    assert (a[:, 0, -1] < 1000 - 32).all() and (val.batch(0, 16)[:, 0, 0] >= 1000 - 32).all()
    assert np.array_equal(val.val_batches(2, 4)[1], val.val_batches(2, 4)[1])


def test_too_short_store_names_the_setting():
    with pytest.raises(ValueError, match="prior.n_frames=64"):
        LatentWindows(ar_latents(50), [(0, 50)], n_frames=64)


class PosteriorStandIn(StandInEncoder):
    """A stand-in with a posterior (mean, std) in a 4-dim space and a 3-dim projection."""

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.encode(x)
        return mean, 0.05 + 0.5 * mean.abs()

    def projection(self) -> tuple[torch.Tensor, torch.Tensor]:
        q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(1)))
        return torch.tensor([0.1, -0.2, 0.0, 0.3]), q[:3]


def test_windows_sample_the_posterior_as_upstreams_reencoding(tmp_path):
    """Upstream re-encodes each step: z = mean + std * eps, minus the PCA mean, projected and
    cropped. The store keeps mean and std and samples at every step: the same distribution."""
    enc = PosteriorStandIn()
    audio = sources()[0][:64 * 32]
    store = ensure_store(tmp_path / "lat", enc, REF, lambda: [audio], log=lambda m: None)
    assert store.posterior is not None and store.latent_size == 3 and store.z.shape == (32, 4)
    # the validation split is one 32-frame window: every draw is that window
    windows = LatentWindows.from_store(store, 32, "val", val_fraction=0.02, seed=3)
    draws = np.concatenate([windows.batch(s, 500) for s in range(8)])      # N 3 32
    with torch.no_grad():
        mean, std = enc.posterior(torch.from_numpy(audio).reshape(1, 1, -1))
        mu, comp = enc.projection()
        # upstream's encode, many times: sample, centre, project, crop
        eps = torch.randn(4000, *mean.shape[1:], generator=torch.Generator().manual_seed(0))
        upstream = torch.einsum("dk,nkt->ndt", comp, mean + std * eps - mu[:, None]).numpy()
    np.testing.assert_allclose(draws.mean(0), upstream.mean(0), atol=0.05)
    np.testing.assert_allclose(draws.std(0), upstream.std(0), rtol=0.1, atol=0.01)
    expected_mean = torch.einsum("dk,kt->dt", comp, mean[0] - mu[:, None]).numpy()
    np.testing.assert_allclose(draws.mean(0), expected_mean, atol=0.05)
    assert draws.std(0).min() > 0.02  # sampled, not the means
    np.testing.assert_array_equal(windows.batch(2, 4), windows.batch(2, 4))  # per step
