"""Seeded augmentation: each input file yields the original plus `VARIANTS` altered copies.

Every variant applies, in this order, (1) speed/pitch: resampling by a factor in
[0.84, 1.19] (about +-3 semitones, duration changes with it, like tape), (2) a filter: one of
low-pass (1.5-8 kHz), high-pass (60-600 Hz) or band-pass (200 Hz-1 kHz to 2.5-7 kHz), 2nd-order
Butterworth, and (3) dynamics: a compander (RMS envelope, threshold -35..-15 dBFS, ratio 1.5..6,
attack 5 ms, release 80 ms) followed by a gain of -12..0 dB and a peak limit at 0.99.
The parameters are drawn from numpy's PCG64 seeded by (seed, CRC32 of the file's relative path,
variant number), so a file's variants do not depend on which other files are in the corpus or on
the worker that made them. docs/data.md states the same numbers.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

VARIANTS = 4  # augmented copies per input file, besides the original
SPEED = (0.84, 1.19)
LOWPASS_HZ = (1500.0, 8000.0)
HIGHPASS_HZ = (60.0, 600.0)
BAND_LOW_HZ = (200.0, 1000.0)
BAND_HIGH_HZ = (2500.0, 7000.0)
THRESHOLD_DB = (-35.0, -15.0)
RATIO = (1.5, 6.0)
GAIN_DB = (-12.0, 0.0)
ATTACK_S, RELEASE_S = 0.005, 0.080
PEAK = 0.99


@dataclass(frozen=True)
class AugmentParams:
    speed: float
    filter: str
    low_hz: float
    high_hz: float
    threshold_db: float
    ratio: float
    gain_db: float

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def draw(seed: int, name: str, variant: int) -> AugmentParams:
    """The parameters of one variant, a pure function of (seed, file name, variant)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8", "surrogateescape")),
                                 variant])
    speed = float(np.exp(rng.uniform(np.log(SPEED[0]), np.log(SPEED[1]))))
    kind = ("lowpass", "highpass", "bandpass")[int(rng.integers(3))]
    low = high = 0.0
    if kind == "lowpass":
        high = float(rng.uniform(*LOWPASS_HZ))
    elif kind == "highpass":
        low = float(rng.uniform(*HIGHPASS_HZ))
    else:
        low, high = float(rng.uniform(*BAND_LOW_HZ)), float(rng.uniform(*BAND_HIGH_HZ))
    return AugmentParams(speed=speed, filter=kind, low_hz=low, high_hz=high,
                         threshold_db=float(rng.uniform(*THRESHOLD_DB)),
                         ratio=float(rng.uniform(*RATIO)), gain_db=float(rng.uniform(*GAIN_DB)))


def _speed(x: np.ndarray, sr: int, speed: float) -> np.ndarray:
    """Play `speed` times faster: resample to sr/speed and read the result at sr."""
    import soxr

    return soxr.resample(x, sr, int(round(sr / speed)), quality="HQ").astype(np.float32)


def _filter(x: np.ndarray, sr: int, p: AugmentParams) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    nyq = 0.49 * sr  # keep cut-offs below Nyquist at low rates (16 kHz demo)
    if p.filter == "lowpass":
        sos = butter(2, min(p.high_hz, nyq), "lowpass", fs=sr, output="sos")
    elif p.filter == "highpass":
        sos = butter(2, min(p.low_hz, nyq * 0.5), "highpass", fs=sr, output="sos")
    else:
        high = min(p.high_hz, nyq)
        sos = butter(2, [min(p.low_hz, high * 0.5), high], "bandpass", fs=sr, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def _compand(x: np.ndarray, sr: int, p: AugmentParams) -> np.ndarray:
    """Feed-forward compressor on a smoothed RMS envelope (attack/release one-pole)."""
    from scipy.signal import lfilter

    power = x.astype(np.float64) ** 2
    # Separate attack and release would need a per-sample branch; a fast attack pass followed by
    # a slower release pass over the result approximates it with two vectorised filters.
    a_att = np.exp(-1.0 / (ATTACK_S * sr))
    a_rel = np.exp(-1.0 / (RELEASE_S * sr))
    env = lfilter([1 - a_att], [1, -a_att], power)
    env = np.maximum(env, lfilter([1 - a_rel], [1, -a_rel], env))
    level_db = 10.0 * np.log10(env + 1e-12)
    over = np.maximum(level_db - p.threshold_db, 0.0)
    gain_db = -over * (1.0 - 1.0 / p.ratio) + p.gain_db
    y = x * (10.0 ** (gain_db / 20.0))
    peak = float(np.abs(y).max(initial=0.0))
    if peak > PEAK:
        y *= PEAK / peak
    return y.astype(np.float32)


def apply(x: np.ndarray, sr: int, params: AugmentParams) -> np.ndarray:
    """One augmented copy of mono float32 `x` at `sr`."""
    return _compand(_filter(_speed(x, sr, params.speed), sr, params), sr, params)


def variants(x: np.ndarray, sr: int, seed: int, name: str) -> list[tuple[np.ndarray, dict | None]]:
    """The original (params None) followed by `VARIANTS` augmented copies with their params."""
    out: list[tuple[np.ndarray, dict | None]] = [(x, None)]
    for v in range(1, VARIANTS + 1):
        p = draw(seed, name, v)
        out.append((apply(x, sr, p), p.to_dict()))
    return out
