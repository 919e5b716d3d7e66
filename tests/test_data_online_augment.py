"""Upstream v1's on-the-fly augmentation (phase mangle p=0.8, Dequantize(16)) in the loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import freqz
from test_data_store import make_store

from ravejobs.data.loader import NO_AUGMENT, OnlineAugment, WindowSampler, phase_mangle


def test_phase_mangle_is_an_all_pass_that_changes_the_waveform() -> None:
    z0 = 0.99 * np.exp(1j * 2 * np.pi * 300 / 16000)
    b = [abs(z0) ** 2, -2 * z0.real, 1.0]
    a = [1.0, -2 * z0.real, abs(z0) ** 2]
    _, h = freqz(b, a, worN=512)
    np.testing.assert_allclose(np.abs(h), 1.0, atol=1e-9)  # magnitude untouched
    x = np.random.default_rng(0).standard_normal(4096)
    assert not np.allclose(phase_mangle(x, 300.0, 0.99, 16000), x, atol=1e-3)


def test_training_windows_are_augmented_like_upstream_and_reproducibly(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path / "s", (20.0,))
    aug = WindowSampler(store, 1024, seed=3)
    raw = WindowSampler(store, 1024, seed=3, augment=NO_AUGMENT)
    mangled = dequantised_only = 0
    for step in range(50):
        x, r = aug.batch(step, 4), raw.batch(step, 4)
        np.testing.assert_array_equal(x, WindowSampler(store, 1024, seed=3).batch(step, 4))
        for xi, ri in zip(x, r, strict=True):
            d = xi - ri
            if np.abs(d).max() > 2.0 ** -15:
                mangled += 1
            else:  # dequantisation alone: non-negative noise below 2**-16
                assert d.min() >= -1e-7 and d.max() < 2.0 ** -16 + 1e-7 and d.max() > 0
                dequantised_only += 1
    assert 0.65 < mangled / 200 < 0.92, mangled  # p = 0.8
    assert dequantised_only > 0
    # ranks: two ranks of 2 see exactly the augmented windows one rank of 4 sees
    np.testing.assert_array_equal(aug.batch(9, 2, rank=1, world=2), aug.batch(9, 4)[2:])
    only_deq = WindowSampler(store, 1024, seed=3, augment=OnlineAugment(phase_mangle_p=0.0))
    d = only_deq.batch(0, 4) - raw.batch(0, 4)
    assert d.min() >= -1e-7 and d.max() < 2.0 ** -16 + 1e-7


def test_validation_is_never_augmented_and_split_batches_tile_the_split(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path / "s", (20.0, 20.0))
    n = 512
    val = WindowSampler(store, n, "val", val_fraction=0.1)
    assert val.augment == NO_AUGMENT
    batches = list(WindowSampler(store, n, "train", val_fraction=0.1).split_batches(8))
    windows = np.concatenate(batches)
    expected = sum((e - s) // n for s, e in val.regions)
    assert len(windows) == expected and all(len(b) <= 8 for b in batches)
    s0 = val.regions[0][0]
    np.testing.assert_array_equal(windows[0] * 32768, store.data[s0:s0 + n])
