"""Augmentation: the same seed gives the same variants; variants differ from the original."""

from __future__ import annotations

import numpy as np
from test_data_helpers import tone

from ravejobs.data import augment as aug

SR = 16000


def signal() -> np.ndarray:
    rng = np.random.default_rng(1)
    return (tone(1.0, SR, 300, amp=0.3) + 0.05 * rng.standard_normal(SR)).astype(np.float32)


def test_variants_are_reproducible_from_the_seed() -> None:
    x = signal()
    a = aug.variants(x, SR, seed=3, name="voice.wav")
    b = aug.variants(x, SR, seed=3, name="voice.wav")
    assert len(a) == 1 + aug.VARIANTS
    for (xa, pa), (xb, pb) in zip(a, b, strict=True):
        assert pa == pb
        np.testing.assert_array_equal(xa, xb)
    c = aug.variants(x, SR, seed=4, name="voice.wav")
    assert [p for _, p in c[1:]] != [p for _, p in a[1:]]


def test_variants_change_speed_filter_and_dynamics() -> None:
    x = signal()
    out = aug.variants(x, SR, seed=0, name="voice.wav")
    assert out[0][1] is None and out[0][0] is x
    for y, params in out[1:]:
        assert params is not None
        lo, hi = aug.SPEED
        assert lo <= params["speed"] <= hi
        # duration follows the speed factor, as with tape
        assert abs(len(y) - len(x) / params["speed"]) <= 2
        assert np.abs(y).max() <= aug.PEAK + 1e-6
        assert y.dtype == np.float32
    assert len({p["filter"] for _, p in out[1:]} | {aug.draw(0, "other.wav", 1).filter}) >= 2


def test_each_stage_alters_the_signal() -> None:
    x = signal()
    p = aug.AugmentParams(speed=1.0, filter="lowpass", low_hz=0.0, high_hz=1000.0,
                          threshold_db=-30.0, ratio=4.0, gain_db=-6.0)
    y = aug.apply(x, SR, p)
    spec_x = np.abs(np.fft.rfft(x))
    spec_y = np.abs(np.fft.rfft(y[: len(x)]))
    high = slice(len(spec_x) * 5000 // (SR // 2), None)  # above 5 kHz: mostly noise, filtered
    assert spec_y[high].sum() < 0.1 * spec_x[high].sum()
    rms = float(np.sqrt(np.mean(y**2)))
    assert rms < float(np.sqrt(np.mean(x**2))) * 0.6  # compressed and 6 dB quieter
