"""Cross-field rules: what no single setting can say wrong on its own.

Pure functions over the typed specs (no files, no environment: those are `ravejobs.probes`,
at the launch edge), one problem line per refusal, each naming the settings and the fix.
The cluster rules encode the scheduler facts of `docs/alliance.md`: GPUs per node, one MIG
slice per job, Trillium's "exactly one GPU or whole nodes", and where compute nodes may write.
"""

from __future__ import annotations

from collections.abc import Mapping

from ravejobs.config.schema import (
    ClusterSpec,
    DatasetSpec,
    KLSpec,
    ModelSpec,
    PhaseSpec,
    PriorSpec,
    StorageSpec,
)

# Storage roots that are purged or lost (the scheduler's node-local disks, scratch).
SCRATCH_MARKERS = ("/scratch", "/localscratch", "/tmp/slurm")


def phase_problems(warmup: int, gan_steps: int, cap: int | None) -> list[str]:
    """The budget must reach the adversarial phase: the notebook's `--warmup 5000000` with
    `max_steps 3000000` trained a VAE only. `cap` is phase.max_steps when set."""
    if not warmup:
        return []
    if cap is not None:
        if cap and cap <= warmup:
            return [f"phase.max_steps={cap} with phase.warmup={warmup}: training would stop "
                    f"before the adversarial phase; set phase.gan_steps (budget = warmup + "
                    f"gan_steps) or raise phase.max_steps above {warmup}"]
        return []
    if gan_steps <= 0:
        return [f"phase.gan_steps={gan_steps}: the adversarial phase is what makes RAVE sound "
                "right; set phase.gan_steps to at least 1 (upstream default 1000000)"]
    return []


def kl_problems(kl: KLSpec, phase: PhaseSpec) -> list[str]:
    """A beta ramp must rise, and end within the VAE phase."""
    if kl.mode != "warmup":
        return []
    p = []
    if kl.beta_min and kl.beta_max and kl.beta_min > kl.beta_max:
        p.append(f"kl.beta_min={kl.beta_min} > kl.beta_max={kl.beta_max}: the ramp must rise; "
                 "swap them")
    if kl.steps and phase.warmup and kl.steps > phase.warmup:
        p.append(f"kl.steps={kl.steps} with phase.warmup={phase.warmup}: the beta ramp must end "
                 f"within the VAE phase; set kl.steps to at most {phase.warmup}")
    return p


def model_problems(m: ModelSpec) -> list[str]:
    """Shapes that cannot be built: PQMF bands, latent crop, window vs hop, v2's dilations."""
    p = []
    if m.data_size and m.data_size & (m.data_size - 1):
        p.append(f"model.data_size={m.data_size}: PQMF bands must be a power of 2 (16)")
    if m.cropped_latent_size > m.latent_size:
        p.append(f"model.cropped_latent_size={m.cropped_latent_size} > model.latent_size="
                 f"{m.latent_size}: crop to at most the latent size, or 0 to keep all")
    if m.hop and m.n_signal % m.hop:
        p.append(f"model.n_signal={m.n_signal}: must be a multiple of data_size x prod(ratios) = "
                 f"{m.hop}; use {max(m.hop, m.n_signal // m.hop * m.hop)}")
    if m.arch == "v2":
        if len(m.dilations) != len(m.ratios):
            p.append(f"model.dilations has {len(m.dilations)} entries for {len(m.ratios)} "
                     "model.ratios: give one list of dilations per ratio")
        if m.cropped_latent_size:
            p.append("model.cropped_latent_size: v2 models keep every latent dimension while "
                     "training (export crops by fidelity); set it to 0")
    return p


def dataset_problems(d: DatasetSpec, model: ModelSpec) -> list[str]:
    p = []
    if not d.raw and not d.generate:
        p.append("dataset.raw: empty; set it to the folder of your audio, e.g. "
                 "dataset=custom dataset.raw=/path/to/audio dataset.label=MY-CORPUS")
    if model.sr and d.sr and d.sr != model.sr:
        p.append(f"dataset.sr={d.sr} but model.sr={model.sr}: the model trains at the corpus "
                 f"rate; set model.sr={d.sr} or dataset.sr={model.sr}")
    return p


def stage_problems(stage: str, prior: PriorSpec) -> list[str]:
    if stage == "prior" and not prior.enabled:
        return ["stage=prior with prior=none: choose prior=default to train priors"]
    return []


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
    if c.time_min > c.max_time_min:
        problems.append(
            f"cluster.time_min={c.time_min}: {c.name} allows at most {c.max_time_min} minutes; "
            "runs longer than one job requeue themselves, so ask for at most that"
        )
    if c.time_min * 60 <= c.signal_delay_s:
        problems.append(
            f"cluster.signal_delay_s={c.signal_delay_s}: the requeue signal would come before "
            f"the job starts (cluster.time_min={c.time_min}); lower it"
        )
    if c.executor == "slurm" and c.needs_account and not c.account:
        problems.append(
            f"cluster.account: {c.name} needs your allocation's account and none is set: "
            "export SBATCH_ACCOUNT=def-yourprof, or put it in conf/local/default.yaml "
            "(see conf/local/README.md)"
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
    return volatile_root_problems(s, {m: m for m in SCRATCH_MARKERS})


def volatile_root_problems(s: StorageSpec, volatile: Mapping[str, str]) -> list[str]:
    """Project storage under a purged or node-local prefix. `volatile`: what to call it ->
    the prefix (the markers above, or $SCRATCH and $SLURM_TMPDIR from `ravejobs.probes`)."""
    if s.kind != "project":
        return []
    hits = [name for name, prefix in volatile.items() if prefix and s.root.startswith(prefix)]
    if not hits:
        return []
    return [f"storage.root={s.root}: on {hits[0]}, which is purged or lost when full; "
            "checkpoints belong on project space (set RAVEJOBS_ROOT or storage.root)"]
