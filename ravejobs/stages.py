"""The stages of a sweep point, one row each: what plan, submit, naming, the runner, status,
cancel and the job header know about a stage, written once.

Adding a stage is one row here and one module under `ravejobs/jobs/` (its `job`). Pure: no
torch, no submitit, no disk, so the plan and the launcher may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ravejobs.config import ClusterSpec, RunSpec


@dataclass(frozen=True)
class Stage:
    """One stage. `resources` caps (CPUs, GB, minutes) apply to CPU stages' smaller request."""

    name: str
    number: int             # notebook numbering: 03-TR-… models, 04-TP-… their priors
    code: str               # letters in the run name
    predecessor: str | None  # whose output it consumes (plan: aftercorr when tasks pair 1:1)
    gpu: bool               # asks for the cluster's GPUs
    job: str                # "module:Class" the runner calls on the node
    why: str                # one line for the sbatch script and the admin header
    leaves: str             # what a finished task leaves in its folder
    folder: str = "runs"    # under the storage root
    steps: bool = False     # has a step budget (status shows step / budget)
    ranks: bool = False     # one process per GPU on every node of the run (DDP); else one
    max_mem_gb: float | None = None
    max_minutes: int | None = None
    max_cpus: int | None = None

    def resources(self, cluster: ClusterSpec) -> tuple[int, float, int]:
        """(CPUs, memory GB, minutes) per task that sbatch is asked for."""
        cpus, mem, minutes = cluster.cpus_per_task, cluster.mem_gb, cluster.time_min
        if self.max_cpus is not None:
            cpus = min(cpus, self.max_cpus)
        if self.max_mem_gb is not None:
            mem = min(mem, self.max_mem_gb)
        if self.max_minutes is not None:
            minutes = min(minutes, self.max_minutes)
        return cpus, mem, minutes

    def gpu_count(self, cluster: ClusterSpec) -> int:
        """GPUs one task holds in all: every GPU of the run for a stage with ranks, one for
        another GPU stage (the prior, a small model), none for CPU stages."""
        if not self.gpu or cluster.gpus_per_node <= 0:
            return 0
        return cluster.nodes * cluster.gpus_per_node if self.ranks else 1

    def gpu_request(self, cluster: ClusterSpec) -> str | None:
        """`--gpus-per-node` of this stage (`a100:2`, or `2` for an untyped gres)."""
        if not self.gpu_count(cluster):
            return None
        per_node = cluster.gpus_per_node if self.ranks else 1
        return f"{cluster.gpu_type}:{per_node}" if cluster.gpu_type else str(per_node)

    def layout(self, cluster: ClusterSpec) -> tuple[int, int]:
        """(nodes, tasks per node) of one task of this stage's array."""
        if self.ranks and self.gpu_count(cluster):
            return cluster.nodes, cluster.tasks_per_node
        return 1, 1

    def budget(self, spec: RunSpec) -> int | None:
        """Steps this stage trains for; None for stages without steps."""
        if not self.steps:
            return None
        return spec.prior.max_steps if self.name == "prior" else spec.phase.max_steps


TABLE: tuple[Stage, ...] = (
    Stage("prepare", 2, "PR", None, False, "ravejobs.jobs.prepare:PrepareJob",
          "corpus preparation: decode, resample to mono, pack (CPU only)",
          "the packed store (data/<corpus>/index.json + audio)", folder="data",
          max_mem_gb=32.0, max_minutes=180),
    Stage("train", 3, "TR", "prepare", True, "ravejobs.jobs.train:TrainJob",
          "RAVE training: VAE phase, then adversarial phase with the encoder frozen",
          "checkpoints/last.ckpt, phase-vae-end.ckpt, metrics.bin, metrics.keys, tb/", steps=True,
          ranks=True),
    Stage("prior", 4, "TP", "train", True, "ravejobs.jobs.prior:PriorJob",
          "prior training on the trained model's latents",
          "latents/, checkpoints/last.ckpt, prior.pt, metrics.bin, metrics.keys", steps=True),
    Stage("export", 5, "EX", "prior", False, "ravejobs.jobs.export:ExportJob",
          "TorchScript export for nn~ (CPU only)", "export/<model>.ts, export/summary.json",
          max_cpus=2, max_mem_gb=8.0, max_minutes=30),
)
STAGES: dict[str, Stage] = {s.name: s for s in TABLE}
NAMES: tuple[str, ...] = tuple(STAGES)
GPU_STAGES: tuple[str, ...] = tuple(s.name for s in TABLE if s.gpu)
STEP_STAGES: tuple[str, ...] = tuple(s.name for s in TABLE if s.steps)


def stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"stage {name!r}: not one of {', '.join(NAMES)}") from None


def predecessor(name: str, spec: RunSpec | None = None) -> str | None:
    """Whose output `name` consumes; export packages the model alone when there is no prior."""
    prev = stage(name).predecessor
    if prev == "prior" and spec is not None and not spec.prior.enabled:
        return stage("prior").predecessor
    return prev
