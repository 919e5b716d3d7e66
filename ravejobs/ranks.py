"""Which training process this is, before any framework is up.

A run on several GPUs starts one process per GPU (SLURM tasks through submitit's srun). Each
process runs the same stage code; only rank 0 writes the run's records (state, metrics,
checkpoints, header and footer), so the folder reads as one run. SLURM numbers the tasks of
a job step in SLURM_PROCID; a process started any other way is rank 0.
"""

from __future__ import annotations

import os


def global_rank() -> int:
    """This process's rank among the run's training processes (0 when alone)."""
    try:
        return int(os.environ.get("SLURM_PROCID", "0"))
    except ValueError:
        return 0


def is_main_process() -> bool:
    return global_rank() == 0


def world_layout() -> tuple[int, int]:
    """(nodes, tasks per node) of this SLURM job step; (1, 1) off SLURM."""
    nodes = os.environ.get("SLURM_STEP_NUM_NODES") or os.environ.get("SLURM_NNODES") or "1"
    tasks = os.environ.get("SLURM_STEP_TASKS_PER_NODE") or os.environ.get(
        "SLURM_NTASKS_PER_NODE") or "1"
    try:
        return int(nodes), int(tasks.split("(")[0])
    except ValueError:
        return 1, 1
