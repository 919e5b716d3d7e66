"""Where a training session runs: accelerator, devices, DDP strategy, and ranks kept in step.

Several processes: under SLURM, one task per GPU (cluster.gpus_per_node x cluster.nodes; on the
CPU, tasks of the test cluster) and Lightning runs DDP over them (NCCL on GPUs, gloo on CPUs),
taking world size and ranks from SLURM.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.strategies import DDPStrategy

from ravejobs.ranks import world_layout


def device_setup() -> dict[str, Any]:
    """Accelerator, devices, strategy and plugins for this node (see module docstring)."""
    on_slurm = "SLURM_JOB_ID" in os.environ
    plugins = [SLURMEnvironment(auto_requeue=False)] if on_slurm else []
    cuda = torch.cuda.is_available()
    nodes, devices = world_layout() if on_slurm else (1, torch.cuda.device_count() if cuda else 1)
    accelerator = "gpu" if cuda else "cpu"
    if nodes * devices == 1:
        return {"accelerator": accelerator, "devices": 1, "num_nodes": 1, "strategy": "auto",
                "plugins": plugins}
    # Unused-parameter search: generator and discriminator steps alternate, and the encoder
    # and noise branch sit out whole phases, so DDP must not expect every gradient each step.
    strategy = DDPStrategy(find_unused_parameters=True,
                           process_group_backend="nccl" if cuda else "gloo")
    return {"accelerator": accelerator, "devices": devices, "num_nodes": nodes,
            "strategy": strategy, "plugins": plugins}


def share_buffers(model: torch.nn.Module) -> None:
    """Every rank takes rank 0's buffers (BatchNorm running statistics) before a step.

    Each rank's BatchNorm updates its running statistics from its own windows, while only rank
    0's reach the checkpoint; once the frozen encoder runs in eval mode (adversarial phase) the
    ranks would compute with different statistics, and a resumed run (every rank loading rank
    0's) with other numbers than an uninterrupted one. Broadcasting them each step makes every
    rank hold what the checkpoint holds, as DDP's `broadcast_buffers` means to.
    """
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)
