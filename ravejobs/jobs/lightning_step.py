"""Lightning's view of a plain RAVE: the Trainer drives `model.train_step` once per batch.

The model is a plain torch module (`ravejobs.model`), so the stages that only use a trained
model (prior, export, listening) never import Lightning, about 4 s of start-up per process.
Only the train stage wraps it here. The wrapper holds the model as its one child, so devices,
DDP and Lightning's hooks (`on_before_backward`, ...) see the model's parameters; weights and
optimizer states are saved by the session (`model.checkpoints`), not by Lightning.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch


class LightningStep(pl.LightningModule):
    """Manual optimisation: one `train_step` of the wrapped model per batch."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.automatic_optimization = False
        self.model = model

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return self.model.make_optimizers()

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.model.train_step(batch, self.optimizers(), self.manual_backward)
