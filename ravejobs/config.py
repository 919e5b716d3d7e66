"""Typed run specifications and their validation: the only place a Hydra config is read.

Everything downstream (plan, submit, jobs, model) takes a `RunSpec`, a frozen dataclass of
plain values. `build_runspecs` validates every sweep point and returns either all specs or all
problems, so one bad point stops the whole sweep before anything is submitted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ravejobs import cadence
from ravejobs.cluster_rules import cluster_problems, storage_problems
from ravejobs.stages import NAMES
from ravejobs.validate_values import sweep_problems, value_problems

STAGES = NAMES  # the stage table (ravejobs.stages)
KL_MODES = ("fixed", "warmup")
EXECUTORS = ("local", "slurm")
SCRATCH_MARKERS = ("/scratch", "/localscratch", "/tmp/slurm")


class ConfigError(ValueError):
    """One or more invalid settings; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    id: int
    label: str
    hours: float
    raw: str
    packed: str
    sr: int
    augment: bool = False
    generate: bool = False


@dataclass(frozen=True)
class PhaseSpec:
    warmup: int
    gan_steps: int

    @property
    def max_steps(self) -> int:
        return self.warmup + self.gan_steps


@dataclass(frozen=True)
class KLSpec:
    mode: str = "fixed"
    beta: float = 0.1
    beta_min: float = 1e-6
    beta_max: float = 0.1
    steps: int = 0

    def beta_at(self, step: int) -> float:
        """KL weight at a global step: constant, or a log-linear ramp then constant."""
        if self.mode == "fixed":
            return self.beta
        if self.steps <= 0 or step >= self.steps:
            return self.beta_max
        t = step / self.steps
        return math.exp(math.log(self.beta_min) * (1 - t) + math.log(self.beta_max) * t)


@dataclass(frozen=True)
class ModelSpec:
    name: str = "rave_v1"
    data_size: int = 16
    capacity: int = 64
    latent_size: int = 128
    ratios: tuple[int, ...] = (4, 4, 4, 2)
    bias: bool = True
    no_latency: bool = False
    cropped_latent_size: int = 0
    loud_stride: int = 1
    use_noise: bool = True
    noise_ratios: tuple[int, ...] = (4, 4, 4)
    noise_bands: int = 5
    d_capacity: int = 16
    d_multiplier: int = 4
    d_n_layers: int = 4
    mode: str = "hinge"
    feature_match: bool = True
    sr: int = 48000
    n_signal: int = 65536
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
    val_every: int = 10_000
    checkpoint_every_steps: int = 10_000
    checkpoint_every_minutes: float = 30.0
    keep_last: int = 1
    log_every: int = 100
    num_workers: int = 4
    precision: str = "32"
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
        """Inverse of `to_dict` (the run folder's spec.json)."""
        m = dict(d["model"])
        m["ratios"] = tuple(m["ratios"])
        m["noise_ratios"] = tuple(m["noise_ratios"])
        if "dilations" in m:
            m["dilations"] = tuple(tuple(d) for d in m["dilations"])
            m["d_periods"] = tuple(m["d_periods"])
        c = dict(d["cluster"])
        c["gpu_types"] = tuple(c["gpu_types"])
        c["setup"] = tuple(c["setup"])
        c["mig_types"] = tuple(c.get("mig_types", ()))
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


# ----------------------------------------------------------------------------- validation


class _Reader:
    """Reads typed values from a plain mapping, collecting one problem line per bad setting."""

    def __init__(self, data: Mapping[str, Any], problems: list[str]):
        self.data = data
        self.problems = problems

    def get(self, key: str, default: Any = ...) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is ...:
                    self.problems.append(f"{key}: missing; add it to its config group")
                return None if default is ... else default
            node = node[part]
        return node

    def steps(self, key: str, minimum: int = 0, default: Any = ...) -> int:
        """A step count: an int, or a float that is a whole number (`5e6`)."""
        value = self.get(key, default)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problems.append(f"{key}={value!r}: not a number of steps; write e.g. {key}=1e6")
            return 0
        try:
            number = float(value)
        except ValueError:
            self.problems.append(f"{key}={value!r}: not a number of steps; write e.g. {key}=1e6")
            return 0
        if not math.isfinite(number) or number != int(number):
            self.problems.append(
                f"{key}={value}: steps must be a whole number; use {math.floor(number)} or "
                f"{math.ceil(number)}" if math.isfinite(number) else f"{key}={value}: not finite"
            )
            return 0
        if number < minimum:
            self.problems.append(f"{key}={int(number)}: must be at least {minimum}")
            return 0
        return int(number)

    def integer(self, key: str, minimum: int | None = None, default: Any = ...) -> int:
        value = self.get(key, default)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            self.problems.append(f"{key}={value!r}: must be a whole number")
            return 0
        if minimum is not None and value < minimum:
            self.problems.append(f"{key}={int(value)}: must be at least {minimum}")
        return int(value)

    def number(self, key: str, positive: bool = False, default: Any = ...) -> float:
        value = self.get(key, default)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{key}={value!r}: must be a number")
            return 0.0
        if positive and not value > 0:
            self.problems.append(f"{key}={value}: must be greater than 0")
        return float(value)

    def ints(self, key: str) -> tuple[int, ...]:
        value = self.get(key)
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            self.problems.append(f"{key}={value!r}: must be a list of positive whole numbers")
            return (1,)
        return tuple(value)

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.problems.append(f"{key}={value!r}: must be true or false")
            return False
        return value

    def choice(self, key: str, options: Iterable[str], default: Any = ...) -> str:
        value = self.get(key, default)
        options = tuple(options)
        if value not in options:
            self.problems.append(f"{key}={value!r}: must be one of {', '.join(options)}")
            return options[0]
        return value

    def text(self, key: str, default: Any = ...) -> str | None:
        value = self.get(key, default)
        return None if value is None else str(value)


def _phase(r: _Reader) -> PhaseSpec:
    warmup = r.steps("phase.warmup", minimum=1)
    gan = r.steps("phase.gan_steps", minimum=0)
    explicit_max = r.get("phase.max_steps", None)
    if explicit_max is not None:
        cap = r.steps("phase.max_steps", minimum=1)
        if cap and warmup and cap <= warmup:
            r.problems.append(
                f"phase.max_steps={cap} with phase.warmup={warmup}: training would stop before "
                f"the adversarial phase; set phase.gan_steps (budget = warmup + gan_steps) or "
                f"raise phase.max_steps above {warmup}"
            )
        elif cap and warmup:
            gan = cap - warmup
    if warmup and gan <= 0 and explicit_max is None:
        r.problems.append(
            f"phase.gan_steps={gan}: the adversarial phase is what makes RAVE sound right; "
            "set phase.gan_steps to at least 1 (upstream default 1000000)"
        )
    return PhaseSpec(warmup=warmup, gan_steps=gan)


def _kl(r: _Reader, phase: PhaseSpec) -> KLSpec:
    mode = r.choice("kl.mode", KL_MODES)
    if mode == "fixed":
        return KLSpec(mode="fixed", beta=r.number("kl.beta", positive=True))
    lo = r.number("kl.beta_min", positive=True)
    hi = r.number("kl.beta_max", positive=True)
    steps = r.steps("kl.steps", minimum=1)
    if lo and hi and lo > hi:
        r.problems.append(f"kl.beta_min={lo} > kl.beta_max={hi}: the ramp must rise; swap them")
    if steps and phase.warmup and steps > phase.warmup:
        r.problems.append(
            f"kl.steps={steps} with phase.warmup={phase.warmup}: the beta ramp must end within "
            f"the VAE phase; set kl.steps to at most {phase.warmup}"
        )
    return KLSpec(mode="warmup", beta_min=lo, beta_max=hi, steps=steps, beta=hi)


def _model(r: _Reader) -> ModelSpec:
    m = ModelSpec(
        name=r.text("model.name") or "",
        data_size=r.integer("model.data_size", 1),
        capacity=r.integer("model.capacity", 1),
        latent_size=r.integer("model.latent_size", 1),
        ratios=r.ints("model.ratios"),
        bias=r.boolean("model.bias"),
        no_latency=r.boolean("model.no_latency"),
        cropped_latent_size=r.integer("model.cropped_latent_size", 0),
        loud_stride=r.integer("model.loud_stride", 1),
        use_noise=r.boolean("model.use_noise"),
        noise_ratios=r.ints("model.noise_ratios"),
        noise_bands=r.integer("model.noise_bands", 1),
        d_capacity=r.integer("model.d_capacity", 1),
        d_multiplier=r.integer("model.d_multiplier", 1),
        d_n_layers=r.integer("model.d_n_layers", 1),
        mode=r.choice("model.mode", ("hinge", "square", "nonsaturating")),
        feature_match=r.boolean("model.feature_match"),
        sr=r.integer("model.sr", 1),
        n_signal=r.integer("model.n_signal", 1),
        batch=r.integer("model.batch", 1),
        lr=r.number("model.lr", positive=True),
        **_model_v2(r),
        streaming=r.boolean("model.streaming", False),
    )
    if m.data_size and m.data_size & (m.data_size - 1):
        r.problems.append(f"model.data_size={m.data_size}: PQMF bands must be a power of 2 (16)")
    if m.cropped_latent_size > m.latent_size:
        r.problems.append(
            f"model.cropped_latent_size={m.cropped_latent_size} > model.latent_size="
            f"{m.latent_size}: crop to at most the latent size, or 0 to keep all"
        )
    if m.hop and m.n_signal % m.hop:
        r.problems.append(
            f"model.n_signal={m.n_signal}: must be a multiple of data_size x prod(ratios) = "
            f"{m.hop}; use {max(m.hop, m.n_signal // m.hop * m.hop)}"
        )
    return m


def _model_v2(r: _Reader) -> dict[str, Any]:
    """The v2 settings; absent keys keep ModelSpec's defaults (so v1 configs need none)."""
    d = ModelSpec()
    arch = r.choice("model.arch", ("v1", "v2"), d.arch)
    dilations = r.get("model.dilations", [list(x) for x in d.dilations])
    if not isinstance(dilations, list | tuple) or not all(
            isinstance(x, list | tuple) and x and all(
                isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in x)
            for x in dilations):
        r.problems.append(f"model.dilations={dilations!r}: must be one list of positive whole "
                          "numbers per ratio, e.g. [[1,3,9],[1,3,9],[1,3,9],[1,3]]")
        dilations = d.dilations
    periods = r.get("model.d_periods", list(d.d_periods))
    if not isinstance(periods, list | tuple) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in periods):
        r.problems.append(f"model.d_periods={periods!r}: must be a list of positive whole numbers")
        periods = d.d_periods
    out = dict(
        arch=arch,
        kernel_size=r.integer("model.kernel_size", 1, d.kernel_size),
        dilations=tuple(tuple(x) for x in dilations),
        amplitude_modulation=r.boolean("model.amplitude_modulation", d.amplitude_modulation),
        noise_hidden=r.integer("model.noise_hidden", 0, d.noise_hidden),
        d_periods=tuple(periods),
        d_scales=r.integer("model.d_scales", 0, d.d_scales),
        fm_weight=r.number("model.fm_weight", default=d.fm_weight),
        adv_weight=r.number("model.adv_weight", default=d.adv_weight),
        distance_weight=r.number("model.distance_weight", positive=True,
                                 default=d.distance_weight),
        dis_every=r.integer("model.dis_every", 2, d.dis_every),
        lr_dis=r.number("model.lr_dis", positive=True, default=d.lr_dis),
        lr_end_factor=r.number("model.lr_end_factor", positive=True, default=d.lr_end_factor),
        regularizer=r.choice("model.regularizer", ("kl", "wasserstein"), d.regularizer),
        noise_augmentation=r.integer("model.noise_augmentation", 0, d.noise_augmentation),
        valid_crop=r.boolean("model.valid_crop", d.valid_crop),
    )
    if arch == "v2":
        ratios = r.get("model.ratios")
        if isinstance(ratios, list | tuple) and len(out["dilations"]) != len(ratios):
            r.problems.append(f"model.dilations has {len(out['dilations'])} entries for "
                              f"{len(ratios)} model.ratios: give one list of dilations per ratio")
        if r.get("model.cropped_latent_size", 0):
            r.problems.append("model.cropped_latent_size: v2 models keep every latent dimension "
                              "while training (export crops by fidelity); set it to 0")
    return out


def _prior(r: _Reader) -> PriorSpec:
    if not r.boolean("prior.enabled"):
        return PriorSpec(enabled=False)
    return PriorSpec(
        enabled=True,
        resolution=r.integer("prior.resolution", 2),
        res_size=r.integer("prior.res_size", 1),
        skp_size=r.integer("prior.skp_size", 1),
        kernel_size=r.integer("prior.kernel_size", 1),
        cycle_size=r.integer("prior.cycle_size", 1),
        n_layers=r.integer("prior.n_layers", 1),
        batch=r.integer("prior.batch", 1),
        n_frames=r.integer("prior.n_frames", 2),
        max_steps=r.steps("prior.max_steps", minimum=1),
        lr=r.number("prior.lr", positive=True),
    )


def _cluster(r: _Reader) -> ClusterSpec:
    gpu_types = tuple(r.get("cluster.gpu_types", []) or [])
    nodes = r.integer("cluster.nodes", 1, 1)
    gpus = r.integer("cluster.gpus_per_node", 0)
    if r.get("cluster.whole_nodes_only", False) is True and nodes > 1 and gpus == 1:
        gpus = r.integer("cluster.max_gpus_per_node", 0)  # several nodes: whole nodes
    c = ClusterSpec(
        name=r.text("cluster.name") or "",
        executor=r.choice("cluster.executor", EXECUTORS),
        account=r.text("cluster.account", None) or None,
        partition=r.text("cluster.partition", None),
        gpu_type=r.text("cluster.gpu_type", None),
        gpus_per_node=gpus,
        gpu_types=gpu_types,
        max_gpus_per_node=r.integer("cluster.max_gpus_per_node", 0),
        cpus_per_task=r.integer("cluster.cpus_per_task", 1),
        mem_gb=r.number("cluster.mem_gb", positive=True),
        time_min=r.integer("cluster.time_min", 1),
        max_time_min=r.integer("cluster.max_time_min", 1),
        max_array_size=r.get("cluster.max_array_size", None),
        max_submit=r.get("cluster.max_submit", None),
        array_parallelism=r.integer("cluster.array_parallelism", 1),
        signal_delay_s=r.integer("cluster.signal_delay_s", 1),
        rgu_per_gpu=dict(r.get("cluster.rgu_per_gpu", {}) or {}),
        setup=tuple(r.get("cluster.setup", []) or []),
        nodes=nodes,
        mig_types=tuple(r.get("cluster.mig_types", []) or []),
        whole_nodes_only=r.boolean("cluster.whole_nodes_only", False),
        request_memory=r.boolean("cluster.request_memory", True),
        compute_writes=r.choice("cluster.compute_writes", ("project", "scratch"), "project"),
    )
    r.problems.extend(cluster_problems(c))
    if c.time_min > c.max_time_min:
        r.problems.append(
            f"cluster.time_min={c.time_min}: {c.name} allows at most {c.max_time_min} minutes; "
            "runs longer than one job requeue themselves, so ask for at most that"
        )
    if c.time_min * 60 <= c.signal_delay_s:
        r.problems.append(
            f"cluster.signal_delay_s={c.signal_delay_s}: the requeue signal would come before "
            f"the job starts (cluster.time_min={c.time_min}); lower it"
        )
    if c.executor == "slurm" and c.name not in ("testslurm",) and not c.account:
        r.problems.append(
            f"cluster.account: {c.name} needs your allocation's account and none is set: "
            "export SBATCH_ACCOUNT=def-yourprof, or put it in conf/local/default.yaml "
            "(see conf/local/README.md)"
        )
    return c


def _storage(r: _Reader) -> StorageSpec:
    s = StorageSpec(
        kind=r.choice("storage.kind", ("project", "scratch")),
        root=r.text("storage.root") or "",
        data_root=r.text("storage.data_root") or "",
    )
    if s.kind == "project":
        volatile = [m for m in SCRATCH_MARKERS if s.root.startswith(m)]
        for env in ("SCRATCH", "SLURM_TMPDIR"):
            if os.environ.get(env) and s.root.startswith(os.environ[env]):
                volatile.append(f"${env}")
        if volatile:
            r.problems.append(
                f"storage.root={s.root}: on {volatile[0]}, which is purged or lost when full; "
                "checkpoints belong on project space (set RAVEJOBS_ROOT or storage.root)"
            )
    return s


def _dataset(r: _Reader, model: ModelSpec, stage: str, dry_run: bool) -> DatasetSpec:
    d = DatasetSpec(
        name=r.text("dataset.name") or "",
        id=r.integer("dataset.id", 0),
        label=r.text("dataset.label") or "",
        hours=r.number("dataset.hours"),
        raw=r.text("dataset.raw") or "",
        packed=r.text("dataset.packed") or "",
        sr=r.integer("dataset.sr", 1),
        augment=r.boolean("dataset.augment", False),
        generate=r.boolean("dataset.generate", False),
    )
    if not d.raw and not d.generate:
        r.problems.append("dataset.raw: empty; set it to the folder of your audio, e.g. "
                          "dataset=custom dataset.raw=/path/to/audio dataset.label=MY-CORPUS")
    if d.augment:
        d = augmented(d)
    if model.sr and d.sr and d.sr != model.sr:
        r.problems.append(
            f"dataset.sr={d.sr} but model.sr={model.sr}: the model trains at the corpus rate; "
            f"set model.sr={d.sr} or dataset.sr={model.sr}"
        )
    needs_audio = stage in ("all", "prepare", "train")
    if needs_audio and not dry_run and not d.generate:
        if not Path(d.raw).is_dir() and not Path(d.packed).is_dir():
            r.problems.append(
                f"dataset.raw={d.raw}: no such folder (and no packed store at {d.packed}); "
                "set storage.data_root or dataset.raw to where the audio is"
            )
    return d


def augmented(d: DatasetSpec) -> DatasetSpec:
    """Augmentation is a setting over the plain corpus' raw audio: the augmented corpus gets its
    own store, name and label (`-AUG`), so it never overwrites or shares runs with the plain one.
    Configs already named so (`as_aug`) are unchanged."""
    packed = Path(d.packed)
    return replace(
        d,
        name=d.name if d.name.lower().endswith("_aug") else f"{d.name}_aug",
        label=d.label if d.label.upper().endswith("-AUG") else f"{d.label}-AUG",
        packed=d.packed if packed.name.upper().endswith("-AUG")
        else str(packed.with_name(f"{packed.name}-AUG")),
    )


def build_runspec(cfg: Mapping[str, Any], overrides: Iterable[str] = ()) -> RunSpec:
    """Validate one resolved config (a plain dict); raise ConfigError listing every problem."""
    problems: list[str] = []
    r = _Reader(cfg, problems)
    dry_run = bool(r.get("dry_run", False))
    stage = r.choice("stage", ("all", *STAGES), "all")
    phase = _phase(r)
    model = _model(r)
    spec = RunSpec(
        dataset=_dataset(r, model, stage, dry_run),
        phase=phase,
        kl=_kl(r, phase),
        model=model,
        prior=_prior(r),
        train=TrainSpec(
            val_every=(r.steps("train.val_every", 1) if r.get("train.val_every", None)
                       is not None else cadence.val_every(phase.max_steps)),
            checkpoint_every_steps=r.steps("train.checkpoint_every_steps", 1),
            checkpoint_every_minutes=r.number("train.checkpoint_every_minutes", positive=True),
            keep_last=r.integer("train.keep_last", 1),
            log_every=(r.steps("train.log_every", 1) if r.get("train.log_every", None)
                       is not None else cadence.log_every(phase.max_steps)),
            num_workers=r.integer("train.num_workers", 0),
            precision=r.choice("train.precision", ("32", "bf16-mixed", "16-mixed")),
            val_fraction=r.number("train.val_fraction", positive=True),
        ),
        cluster=_cluster(r),
        storage=_storage(r),
        seed=r.integer("seed", 0, 0),
        stage=stage,
        tag=str(r.get("tag", "") or ""),
        reason=str(r.get("reason", "") or ""),
        overrides=tuple(overrides),
    )
    problems.extend(storage_problems(spec.cluster, spec.storage))
    if stage == "prior" and not spec.prior.enabled:
        problems.append("stage=prior with prior=none: choose prior=default to train priors")
    problems.extend(value_problems(spec))
    if problems:
        raise ConfigError(problems)
    return spec


def build_runspecs(points: Iterable[tuple[Mapping[str, Any], Iterable[str]]]) -> list[RunSpec]:
    """Validate every point, all or nothing; problems are prefixed by the point's overrides."""
    specs: list[RunSpec] = []
    problems: list[str] = []
    for cfg, overrides in points:
        overrides = tuple(overrides)
        try:
            specs.append(build_runspec(cfg, overrides))
        except ConfigError as err:
            where = " ".join(overrides) or "(defaults)"
            problems.extend(f"[{where}] {p}" for p in err.problems)
    if not problems:
        problems = sweep_problems(specs)
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return specs
