"""Lightning's own noise out of the job logs: the litlogger tip, the `srun` hint (ravejobs
runs its tasks through submitit's srun-free launch on purpose), "`Trainer.fit` stopped",
"GPU available" and other info lines, and a deprecation warning of its pytree helper.
Warnings and errors of Lightning still show."""

from __future__ import annotations

import logging
import warnings

LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric",
           "lightning_utilities")
MESSAGES = (r"The `srun` command is available", r".*litlogger",
            r"`isinstance\(treespec, LeafSpec\)`")


def quiet_lightning() -> None:
    """Call once before making a Trainer."""
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in MESSAGES:
        warnings.filterwarnings("ignore", message=message)
