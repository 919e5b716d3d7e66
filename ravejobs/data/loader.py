"""Random fixed-length training windows from a packed store, deterministic in (seed, step).

The corpus is read as one timeline (files back to back, as upstream RAVE concatenates them), cut
into regions of `REGION_WINDOWS x n_signal` samples. Every k-th region (k = round(1/val_fraction),
starting at k//2) is validation, the rest training, and a window never leaves its region, so
training and validation samples never overlap. The split depends only on the store and n_signal,
not on the seed, so runs that differ in seed validate on the same audio. Windows may span the
join between two files, which is what lets corpora of short one-shots be used at all.

`batch(step)` draws from `np.random.default_rng([seed, step])`: a run resumed at step s sees the
batches it would have seen; nothing is carried between calls.

Training windows are augmented on the fly as upstream v1 (`train_rave.py`): with probability
0.8 a random phase mangle (a second-order all-pass, pole radius 0.99 at a log-uniform frequency
in 20-2000 Hz, applied along the window), then dequantisation (uniform noise in [0, 2**-16)
added to every sample). Window i of a step's global batch draws from its own generator
(seed, step, i), so augmentation is as reproducible as the windows and the same whatever the
number of ranks. Validation windows are never
augmented.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ravejobs.data.store import SCALE, PackedStore

REGION_WINDOWS = 4
VAL_SEED = 0x5EED  # validation windows are the same for every run on a store


@dataclass(frozen=True)
class OnlineAugment:
    """Upstream v1's per-window augmentation; p=0 and bits=0 switch its parts off."""

    phase_mangle_p: float = 0.8
    min_hz: float = 20.0
    max_hz: float = 2000.0
    pole: float = 0.99
    dequantize_bits: int = 16

    def apply(self, windows: np.ndarray, sr: int,
              rngs: list[np.random.Generator]) -> np.ndarray:
        """Augment float32 windows (batch, n) in place, window i drawing from `rngs[i]`."""
        for i, rng in enumerate(rngs):
            mangle, u = rng.random(2)
            if mangle < self.phase_mangle_p:
                windows[i] = phase_mangle(windows[i], self.hz(u), self.pole, sr)
            if self.dequantize_bits:
                windows[i] += (rng.random(windows.shape[1]) / 2.0 ** self.dequantize_bits
                               ).astype(np.float32)
        return windows

    def hz(self, u: float) -> float:
        """Log-uniform frequency in [min_hz, max_hz] from a uniform draw u."""
        lo, hi = np.log(self.min_hz), np.log(self.max_hz)
        return float(np.exp(u * (hi - lo) + lo))


NO_AUGMENT = OnlineAugment(phase_mangle_p=0.0, dequantize_bits=0)


def phase_mangle(x: np.ndarray, hz: float, pole: float, sr: int) -> np.ndarray:
    """All-pass biquad with poles at pole * exp(+-j 2 pi hz / sr): a random phase response,
    the magnitude untouched."""
    z0 = pole * np.exp(1j * 2 * np.pi * hz / sr)
    a = [1.0, -2 * z0.real, abs(z0) ** 2]
    b = [abs(z0) ** 2, -2 * z0.real, 1.0]
    return lfilter(b, a, x)


class WindowSampler:
    """Uniform random windows of `n_signal` samples from one split of a packed store."""

    def __init__(self, store: PackedStore, n_signal: int, split: str = "train",
                 val_fraction: float = 0.02, seed: int = 0,
                 augment: OnlineAugment | None = None):
        if split not in ("train", "val"):
            raise ValueError(f"split={split!r}: must be 'train' or 'val'")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction={val_fraction}: must be between 0 and 1")
        total = store.num_samples
        if total < 2 * n_signal:
            raise ValueError(
                f"{store.path}: {total} samples ({total / store.sr:.2f} s) is too short for a "
                f"train/val split of {n_signal}-sample windows; it needs at least {2 * n_signal}"
            )
        self.store, self.n_signal, self.split, self.seed = store, n_signal, split, seed
        self.val_fraction = val_fraction
        # Training windows get upstream's augmentation unless told otherwise; validation never.
        self.augment = NO_AUGMENT if split == "val" else (augment or OnlineAugment())
        self.data = store.data
        n_regions = max(2, total // (REGION_WINDOWS * n_signal))
        bounds = np.linspace(0, total, n_regions + 1).astype(np.int64)
        k = max(2, round(1.0 / val_fraction))
        is_val = (np.arange(n_regions) % k) == k // 2
        if not is_val.any():
            is_val[n_regions // 2] = True
        mine = is_val if split == "val" else ~is_val
        self.starts = bounds[:-1][mine]
        # valid window starts per region; a region is at least n_signal long by construction
        self.counts = bounds[1:][mine] - self.starts - n_signal + 1
        self.cum = np.cumsum(self.counts)
        self.num_windows = int(self.cum[-1])

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("data")  # the store reopens its memory map; samples are never pickled
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.data = self.store.data

    @property
    def regions(self) -> list[tuple[int, int]]:
        """(start, end) sample ranges this split draws from."""
        ends = self.starts + self.counts + self.n_signal - 1
        return [(int(s), int(e)) for s, e in zip(self.starts, ends, strict=True)]

    def _offsets(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.integers(0, self.num_windows, size=n)
        region = np.searchsorted(self.cum, u, side="right")
        before = np.where(region > 0, self.cum[region - 1], 0)
        return self.starts[region] + (u - before)

    def _gather(self, offsets: np.ndarray) -> np.ndarray:
        out = np.empty((len(offsets), self.n_signal), np.float32)
        for i, o in enumerate(offsets):
            out[i] = self.data[o:o + self.n_signal]
        out *= np.float32(SCALE)
        return out

    def batch(self, step: int, batch_size: int, rank: int = 0, world: int = 1) -> np.ndarray:
        """Training (or val) windows for global step `step`: float32 (batch_size, n_signal).

        With `world` ranks each taking `batch_size` windows, rank r takes rows
        [r * batch_size, (r + 1) * batch_size) of the step's global batch of world x batch_size:
        two ranks of 4 see exactly the windows one rank of 8 sees.
        """
        rng = np.random.default_rng([self.seed, step, 1 if self.split == "val" else 0])
        offsets = self._offsets(rng, world * batch_size)
        rows = range(rank * batch_size, (rank + 1) * batch_size)
        windows = self._gather(offsets[rows.start:rows.stop])
        if self.augment != NO_AUGMENT:  # one generator per window of the global batch
            self.augment.apply(windows, self.store.sr,
                               [np.random.default_rng([self.seed, step, 2, i]) for i in rows])
        return windows

    def split_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """The whole validation split as consecutive non-overlapping windows, in batches read
        one at a time (upstream validates on its whole validation split); never augmented."""
        sampler = self if self.split == "val" else WindowSampler(
            self.store, self.n_signal, "val", self.val_fraction, self.seed)
        offsets = [np.arange(s, e - self.n_signal + 1, self.n_signal)
                   for s, e in sampler.regions]
        flat = np.concatenate(offsets)
        for i in range(0, len(flat), batch_size):
            yield sampler._gather(flat[i:i + batch_size])

    def val_batches(self, n_batches: int, batch_size: int) -> list[np.ndarray]:
        """Fixed validation windows (same for every seed), from the validation regions."""
        sampler = self if self.split == "val" else WindowSampler(
            self.store, self.n_signal, "val", self.val_fraction, self.seed)
        rng = np.random.default_rng(VAL_SEED)
        return [sampler._gather(sampler._offsets(rng, batch_size)) for _ in range(n_batches)]
