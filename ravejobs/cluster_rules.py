"""What a cluster can give one run: the cross-field rules of a cluster profile.

Pure functions over the validated specs, one problem line per refusal, each naming the setting
and the fix. They encode the scheduler facts of `docs/alliance.md`: GPUs per node, one MIG slice
per job, Trillium's "exactly one GPU or whole nodes", and where compute nodes may write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ravejobs.config import ClusterSpec, StorageSpec


def cluster_problems(c: ClusterSpec) -> list[str]:
    """Requests the profile's cluster cannot meet."""
    problems: list[str] = []
    known = (*c.gpu_types, *c.mig_types)
    if c.gpu_type and known and c.gpu_type not in known:
        problems.append(
            f"cluster.gpu_type={c.gpu_type}: {c.name} has {', '.join(known)}; "
            f"use cluster.gpu_type={known[0]}"
        )
    if c.gpus_per_node > c.max_gpus_per_node:
        problems.append(
            f"cluster.gpus_per_node={c.gpus_per_node}: {c.name} nodes have "
            f"{c.max_gpus_per_node}; ask for at most {c.max_gpus_per_node}"
        )
    if c.gpu_type in c.mig_types and (c.gpus_per_node > 1 or c.nodes > 1):
        problems.append(
            f"cluster.gpu_type={c.gpu_type} with cluster.gpus_per_node={c.gpus_per_node} "
            f"cluster.nodes={c.nodes}: {c.name} gives one MIG slice per job; use "
            f"cluster.gpus_per_node=1 cluster.nodes=1, or whole GPUs "
            f"(cluster.gpu_type={c.gpu_types[0] if c.gpu_types else '...'})"
        )
    partial = 1 < c.gpus_per_node < c.max_gpus_per_node or (c.nodes > 1 and c.gpus_per_node == 1)
    if c.whole_nodes_only and c.gpus_per_node and partial:
        problems.append(
            f"cluster.gpus_per_node={c.gpus_per_node} cluster.nodes={c.nodes}: {c.name} runs GPU "
            f"jobs on exactly 1 GPU or on whole nodes of {c.max_gpus_per_node}; use "
            f"cluster.gpus_per_node=1 or cluster.gpus_per_node={c.max_gpus_per_node}"
        )
    if c.executor == "local" and c.nodes > 1:
        problems.append(
            f"cluster.nodes={c.nodes}: the local executor runs on this machine only; "
            "use cluster.nodes=1 or a SLURM cluster"
        )
    return problems


def storage_problems(c: ClusterSpec, s: StorageSpec) -> list[str]:
    """Storage the cluster's compute nodes cannot write (Trillium: only scratch)."""
    if c.compute_writes == "scratch" and s.kind != "scratch":
        return [
            f"storage={s.kind} on cluster={c.name}: its compute nodes cannot write $HOME or "
            "$PROJECT; use storage=scratch (the cluster profile's default) and copy finished "
            "runs to project space (scratch is purged)"
        ]
    return []

