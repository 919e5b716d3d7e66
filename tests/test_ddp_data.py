"""Several ranks split one global batch: rank r of `world` takes rows [r*b, (r+1)*b) of the
step's world x b windows, so 2 ranks of 4 see exactly the windows 1 rank of 8 sees (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from ravejobs.data.loader import WindowSampler
from ravejobs.data.store import pack


@pytest.fixture
def sampler(tmp_path):
    rng = np.random.default_rng(7)
    samples = rng.integers(-20_000, 20_000, 40_000).astype(np.int16)
    store = pack(tmp_path / "store", 16_000, [({"path": "a.wav", "variant": 0}, samples)])
    return WindowSampler(store, 512, "train", 0.1, seed=3)


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_split_the_global_batch_of_one_process(sampler, world):
    for step in (0, 1, 17):
        whole = sampler.batch(step, 8)
        per_rank = 8 // world
        parts = [sampler.batch(step, per_rank, rank, world) for rank in range(world)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
        assert not np.array_equal(parts[0], parts[1])  # each rank its own windows

