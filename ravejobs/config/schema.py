"""The config's schema: one frozen dataclass per group, holding every default exactly once.

Hydra composes `conf/` over `defaults_node()` (registered by `ravejobs.config.store`), so a
group file under `conf/` holds only what that group changes, and `ravejobs.config.build` falls
back to these defaults for a key a plain dict lacks. `naming` hashes what a run changes against
the same defaults: changing one here changes the signature of runs that kept it (the pinned
signatures in tests/test_naming.py say so). Fields without a default (corpus, cluster, storage)
must come from their group. No validation, probing or arithmetic beyond derived sizes lives here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

KL_MODES = ("fixed", "warmup")
EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    id: int
    label: str
    hours: float
    raw: str                 # the audio as you have it, any format
    packed: str              # the packed store the prepare stage writes
    sr: int
    augment: bool = False    # 4 seeded variants per file; own store, name and label (-AUG)
    generate: bool = False   # the demo corpus: ravejobs makes its own audio


@dataclass(frozen=True)
class PhaseSpec:
    warmup: int = 1_000_000     # VAE steps (upstream v1's default)
    gan_steps: int = 1_000_000  # adversarial steps after them

    @property
    def max_steps(self) -> int:
        return self.warmup + self.gan_steps


@dataclass(frozen=True)
class KLSpec:
    """KL weight: `fixed` (beta), or `warmup` (log-linear from beta_min to beta_max over steps);
    the weight itself is computed by `ravejobs.model.phases.beta_at`."""

    mode: str = "fixed"
    beta: float = 0.1
    beta_min: float = 1e-6
    beta_max: float = 0.1
    steps: int = 0


@dataclass(frozen=True)
class ModelSpec:
    """Upstream RAVE v1's defaults (train_rave.py at b9e4865); docs/model.md explains each."""

    name: str = "rave_v1"
    data_size: int = 16          # PQMF bands
    capacity: int = 64           # channel width of encoder/decoder
    latent_size: int = 128
    ratios: tuple[int, ...] = (4, 4, 4, 2)  # per block; product x data_size = hop
    bias: bool = True
    no_latency: bool = False     # causal PQMF (70 dB) and convolutions, for streaming with nn~
    cropped_latent_size: int = 0  # 0: keep all; >0: the encoder outputs only this many
    loud_stride: int = 1
    use_noise: bool = True
    noise_ratios: tuple[int, ...] = (4, 4, 4)
    noise_bands: int = 5
    d_capacity: int = 16
    d_multiplier: int = 4
    d_n_layers: int = 4
    mode: str = "hinge"
    feature_match: bool = True
    sr: int = 48000              # conf/model/*.yaml: the corpus rate (${dataset.sr})
    n_signal: int = 65536        # samples per training window
    batch: int = 8
    lr: float = 1e-4
    # The RAVE v2 family (arch "v2", ravejobs/model/v2); v1 ignores these. docs/model.md.
    arch: str = "v1"
    kernel_size: int = 3
    dilations: tuple[tuple[int, ...], ...] = ((1, 3, 9), (1, 3, 9), (1, 3, 9), (1, 3))
    amplitude_modulation: bool = True
    noise_hidden: int = 0  # width of v2's noise synthesiser (noise.gin: 128, v2_small: 64)
    d_periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    d_scales: int = 3
    fm_weight: float = 10.0
    adv_weight: float = 1.0
    distance_weight: float = 1.0
    dis_every: int = 2
    lr_dis: float = 1e-4
    lr_end_factor: float = 1.0
    regularizer: str = "kl"
    noise_augmentation: int = 0
    valid_crop: bool = False
    streaming: bool = False  # export with cached convolutions (nn~ streaming); upstream: stateless

    @property
    def hop(self) -> int:
        """Samples per latent frame."""
        return self.data_size * math.prod(self.ratios)


@dataclass(frozen=True)
class PriorSpec:
    """Upstream v1's prior; its budget is counted in steps (upstream: 100,000 epochs)."""

    enabled: bool = True
    resolution: int = 32
    res_size: int = 512
    skp_size: int = 256
    kernel_size: int = 3
    cycle_size: int = 4
    n_layers: int = 10
    batch: int = 8
    n_frames: int = 128      # upstream: 2**18 samples at hop 2048
    max_steps: int = 1_000_000
    lr: float = 1e-4         # upstream's Adam lr


@dataclass(frozen=True)
class TrainSpec:
    # None in a config: follow the step budget (ravejobs/cadence.py); always a number in a RunSpec
    val_every: int | None = None
    checkpoint_every_steps: int = 10_000
    checkpoint_every_minutes: float = 30.0
    keep_last: int = 1       # rolling `last` checkpoints kept besides one per phase boundary
    log_every: int | None = None
    num_workers: int = 4
    precision: str = "32"    # "32", "bf16-mixed" or "16-mixed"
    val_fraction: float = 0.02


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    executor: str
    account: str | None
    partition: str | None
    gpu_type: str | None
    gpus_per_node: int
    gpu_types: tuple[str, ...]
    max_gpus_per_node: int
    cpus_per_task: int
    mem_gb: float
    time_min: int
    max_time_min: int
    max_array_size: int | None
    max_submit: int | None
    array_parallelism: int
    signal_delay_s: int
    rgu_per_gpu: Mapping[str, float] = field(default_factory=dict)
    setup: tuple[str, ...] = ()
    nodes: int = 1
    mig_types: tuple[str, ...] = ()
    whole_nodes_only: bool = False
    request_memory: bool = True
    compute_writes: str = "project"
    needs_account: bool = True  # slurm: refuse to submit without cluster.account

    @property
    def tasks_per_node(self) -> int:
        """One process per GPU (submitit's tasks, Lightning's ranks); one on a CPU-only job."""
        return max(self.gpus_per_node, 1)

    @property
    def world_size(self) -> int:
        """Training processes of one run: nodes x tasks per node."""
        return self.nodes * self.tasks_per_node

    @property
    def gpu_request(self) -> str | None:
        """The Alliance form of the GPU request: `a100:1`, or `1` for an untyped gres."""
        if self.gpus_per_node <= 0:
            return None
        return f"{self.gpu_type}:{self.gpus_per_node}" if self.gpu_type else str(self.gpus_per_node)


@dataclass(frozen=True)
class StorageSpec:
    kind: str
    root: str
    data_root: str


@dataclass(frozen=True)
class RunSpec:
    """One sweep point, validated. Result-affecting parts feed the signature (see naming)."""

    dataset: DatasetSpec
    phase: PhaseSpec
    kl: KLSpec
    model: ModelSpec
    prior: PriorSpec
    train: TrainSpec
    cluster: ClusterSpec
    storage: StorageSpec
    seed: int = 0
    stage: str = "all"
    tag: str = ""
    reason: str = ""
    overrides: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSpec:
        """Inverse of `to_dict` (the run folder's spec.json); keys older spec.json files lack
        take today's defaults."""
        m = dict(d["model"])
        for key in ("ratios", "noise_ratios", "d_periods"):
            if key in m:
                m[key] = tuple(m[key])
        if "dilations" in m:
            m["dilations"] = tuple(tuple(x) for x in m["dilations"])
        c = dict(d["cluster"])
        for key in ("gpu_types", "setup", "mig_types"):
            c[key] = tuple(c.get(key, ()))
        return cls(
            dataset=DatasetSpec(**d["dataset"]),
            phase=PhaseSpec(**d["phase"]),
            kl=KLSpec(**d["kl"]),
            model=ModelSpec(**m),
            prior=PriorSpec(**d["prior"]),
            train=TrainSpec(**d["train"]),
            cluster=ClusterSpec(**c),
            storage=StorageSpec(**d["storage"]),
            seed=d["seed"],
            stage=d["stage"],
            tag=d["tag"],
            reason=d.get("reason", ""),
            overrides=tuple(d.get("overrides", ())),
        )

    @property
    def stages(self) -> tuple[str, ...]:
        """Stages this point asks for, in dependency order."""
        if self.stage != "all":
            return (self.stage,)
        wanted = ["prepare", "train"]
        if self.prior.enabled:
            wanted.append("prior")
        wanted.append("export")
        return tuple(wanted)


# Config sections and the dataclass that holds each one's defaults.
SECTIONS: dict[str, type] = {
    "dataset": DatasetSpec, "phase": PhaseSpec, "kl": KLSpec, "model": ModelSpec,
    "prior": PriorSpec, "train": TrainSpec, "cluster": ClusterSpec, "storage": StorageSpec,
}
# Settings a config may hold that a RunSpec keeps in another form, with their defaults.
INPUT_ONLY: dict[str, Any] = {
    "phase.max_steps": None,  # a cap: gan_steps = max_steps - warmup
    "dry_run": False,
}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return dict(value) if isinstance(value, Mapping) else value


def section_defaults(cls: type) -> dict[str, Any]:
    """The fields of one section that have a default, as config values (tuples as lists)."""
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = _plain(f.default)
        elif f.default_factory is not MISSING:
            out[f.name] = _plain(f.default_factory())
    return out


def defaults_node() -> dict[str, Any]:
    """Every default as one nested config: the base that `conf/` is composed over."""
    node: dict[str, Any] = {name: section_defaults(cls) for name, cls in SECTIONS.items()}
    for f in fields(RunSpec):
        if f.name not in SECTIONS and f.name != "overrides":
            node[f.name] = _plain(f.default)
    for key, value in INPUT_ONLY.items():
        *path, last = key.split(".")
        target = node
        for part in path:
            target = target.setdefault(part, {})
        target[last] = value
    return node


def setting_keys() -> set[str]:
    """Every dotted setting the schema knows (those without a default too)."""
    keys = {f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in fields(cls)}
    keys |= set(SECTIONS) | set(INPUT_ONLY)
    keys |= {f.name for f in fields(RunSpec) if f.name not in SECTIONS and f.name != "overrides"}
    return keys
