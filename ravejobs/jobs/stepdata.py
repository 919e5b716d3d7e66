"""What a training step reads: (step, batch) from the run's sampler, in the same order on
every start, so a resumed run sees exactly the batches an uninterrupted one sees.

`model.batch` is per rank: rank r at step s trains on rows [r*batch, (r+1)*batch) of the step's
global batch of world x batch windows. Data loader workers split the steps round-robin, in order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info


def data_seed(seed: int, rollbacks: int) -> int:
    """The data-order (and step-noise) seed after `rollbacks` divergences: the run's own seed
    first, then a fresh independent one per rollback."""
    if rollbacks == 0:
        return seed
    return int(np.random.SeedSequence([seed, rollbacks]).generate_state(1, np.uint64)[0] >> 1)


class StepBatches(IterableDataset):
    """(step, batch) for step in [start, stop); workers split steps round-robin, in order."""

    def __init__(self, sampler: Any, start: int, stop: int, batch: int, rank: int = 0,
                 world: int = 1):
        self.sampler, self.start, self.stop, self.batch = sampler, start, stop, batch
        self.rank, self.world = rank, world

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for s in range(self.start + wid, self.stop, nw):
            yield s, torch.from_numpy(self.sampler.batch(s, self.batch, self.rank, self.world))


class StepData(pl.LightningDataModule):
    """The session's steps from its model's step to its budget, split over ranks and workers."""

    def __init__(self, session: Any):
        super().__init__()
        self.session = session

    def train_dataloader(self) -> DataLoader:
        s, trainer = self.session, self.trainer
        data = StepBatches(s.train, s.model.step, s.max_steps, s.spec.model.batch,
                           trainer.global_rank, trainer.world_size)
        workers = s.spec.train.num_workers if trainer.accelerator.__class__.__name__ not in (
            "CPUAccelerator",) else 0
        return DataLoader(data, batch_size=None, num_workers=workers,
                          pin_memory=workers > 0, persistent_workers=False)
