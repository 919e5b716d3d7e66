"""Packed store round trip, window sampler determinism and split, staging to $SLURM_TMPDIR."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from ravejobs.data.loader import NO_AUGMENT, WindowSampler
from ravejobs.data.stage import stage_store
from ravejobs.data.store import PackedStore, pack

SR = 8000


def make_store(path: Path, seconds: tuple[float, ...] = (3.0, 2.0, 5.0)) -> tuple[PackedStore,
                                                                                   list[np.ndarray]]:
    rng = np.random.default_rng(0)
    signals = [rng.integers(-30000, 30000, int(s * SR)).astype(np.int16) for s in seconds]
    items = [({"path": f"f{i}.wav", "variant": 0}, x) for i, x in enumerate(signals)]
    return pack(path, SR, items), signals


def test_round_trip_and_fingerprint(tmp_path: Path) -> None:
    store, signals = make_store(tmp_path / "a")
    assert store.sr == SR and store.num_samples == sum(len(x) for x in signals)
    assert store.duration_s == pytest.approx(10.0)
    for i, x in enumerate(signals):
        np.testing.assert_allclose(store.signal(i), x / 32768.0, rtol=0, atol=1e-7)
    assert isinstance(store.data, np.memmap)
    assert store.verify()
    again, _ = make_store(tmp_path / "b")
    assert again.fingerprint == store.fingerprint
    other, _ = make_store(tmp_path / "c", (3.0, 2.0, 5.5))
    assert other.fingerprint != store.fingerprint
    # a damaged data file is refused, naming it
    with open(store.data_file, "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(ValueError, match=store.data_file.name):
        PackedStore(tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="ravejobs prepare"):
        PackedStore(tmp_path / "nothing")


def test_sampler_is_deterministic_per_seed_and_step(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path / "s")
    a = WindowSampler(store, 1024, seed=1)
    b = WindowSampler(store, 1024, seed=1)
    x = a.batch(7, 8)
    assert x.shape == (8, 1024) and x.dtype == np.float32
    np.testing.assert_array_equal(x, b.batch(7, 8))
    assert not np.array_equal(x, a.batch(8, 8))
    assert not np.array_equal(x, WindowSampler(store, 1024, seed=2).batch(7, 8))
    clone = pickle.loads(pickle.dumps(a))  # as a DataLoader worker receives it
    np.testing.assert_array_equal(clone.batch(7, 8), x)
    assert len(pickle.dumps(a)) < store.nbytes / 10
    v1 = a.val_batches(2, 4)
    v2 = WindowSampler(store, 1024, seed=9).val_batches(2, 4)
    for p, q in zip(v1, v2, strict=True):
        np.testing.assert_array_equal(p, q)  # validation does not depend on the seed


def test_train_and_val_windows_never_overlap(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path / "s", (20.0, 20.0))
    n = 512
    train = WindowSampler(store, n, "train", val_fraction=0.1, augment=NO_AUGMENT)
    val = WindowSampler(store, n, "val", val_fraction=0.1)
    assert val.regions and train.regions
    covered = np.zeros(store.num_samples, np.int8)
    for lo, hi in train.regions:
        covered[lo:hi] |= 1
    for lo, hi in val.regions:
        covered[lo:hi] |= 2
    assert not (covered == 3).any()
    val_share = (covered == 2).sum() / store.num_samples
    assert 0.05 < val_share < 0.2
    # every sampled window lies in its own split's regions: found in the store by its samples
    flat = np.asarray(store.data)

    def found_at(window: np.ndarray) -> int:
        samples = np.round(window * 32768).astype(np.int16)
        hits = [int(o) for o in np.flatnonzero(flat[:len(flat) - n + 1] == samples[0])
                if np.array_equal(flat[o:o + n], samples)]
        assert len(hits) == 1, hits
        return hits[0]

    for sampler, mark in ((train, 1), (val, 2)):
        for step in range(20):
            for window in sampler.batch(step, 4):
                o = found_at(window)
                assert covered[o] == mark and covered[o + n - 1] == mark
    with pytest.raises(ValueError, match="too short"):
        WindowSampler(store, store.num_samples, "train")


def test_staging_copies_when_roomy_and_logs_why_not(tmp_path: Path, monkeypatch) -> None:
    store, _ = make_store(tmp_path / "packed dir")
    lines: list[str] = []
    monkeypatch.delenv("SLURM_TMPDIR", raising=False)
    assert stage_store(store.path, lines.append) == store.path
    assert "SLURM_TMPDIR not set" in lines[-1]

    node = tmp_path / "node local"
    node.mkdir()
    monkeypatch.setenv("SLURM_TMPDIR", str(node))
    staged = stage_store(store.path, lines.append, reserve_bytes=0)
    assert staged.is_relative_to(node) and "copied" in lines[-1]
    assert PackedStore(staged).fingerprint == store.fingerprint
    assert stage_store(store.path, lines.append, reserve_bytes=0) == staged
    assert "reusing" in lines[-1]

    full = tmp_path / "full node"
    full.mkdir()
    monkeypatch.setenv("SLURM_TMPDIR", str(full))
    assert stage_store(store.path, lines.append, reserve_bytes=1 << 60) == store.path
    assert "free" in lines[-1] and "reading in place" in lines[-1]
    assert not any(full.iterdir())
