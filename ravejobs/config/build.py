"""Composed config -> validated RunSpec: typed reads, then the cross-field rules.

`build_runspec` is pure (no files, no environment; `ravejobs.probes` checks those at the launch
edge). `build_runspecs` validates every sweep point and returns either all specs or all
problems, so one bad point stops the whole sweep before anything is submitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ravejobs import cadence
from ravejobs.config import rules
from ravejobs.config.reader import Reader
from ravejobs.config.schema import (
    EXECUTORS,
    KL_MODES,
    ClusterSpec,
    DatasetSpec,
    KLSpec,
    ModelSpec,
    PhaseSpec,
    PriorSpec,
    RunSpec,
    StorageSpec,
    TrainSpec,
)
from ravejobs.errors import ConfigError
from ravejobs.stages import NAMES as STAGES
from ravejobs.validate_values import sweep_problems, value_problems


def _phase(r: Reader) -> PhaseSpec:
    warmup = r.steps("phase.warmup", minimum=1)
    gan = r.steps("phase.gan_steps", minimum=0)
    cap = None if r.get("phase.max_steps") is None else r.steps("phase.max_steps", minimum=1)
    r.problems.extend(rules.phase_problems(warmup, gan, cap))
    if cap and warmup and cap > warmup:
        gan = cap - warmup
    return PhaseSpec(warmup=warmup, gan_steps=gan)


def _kl(r: Reader) -> KLSpec:
    if r.choice("kl.mode", KL_MODES) == "fixed":
        return KLSpec(mode="fixed", beta=r.number("kl.beta", positive=True))
    hi = r.number("kl.beta_max", positive=True)
    return KLSpec(mode="warmup", beta_min=r.number("kl.beta_min", positive=True), beta_max=hi,
                  steps=r.steps("kl.steps", minimum=1), beta=hi)


def _model(r: Reader) -> ModelSpec:
    return ModelSpec(
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
        arch=r.choice("model.arch", ("v1", "v2")),
        kernel_size=r.integer("model.kernel_size", 1),
        dilations=r.nested_ints("model.dilations", "[[1,3,9],[1,3,9],[1,3,9],[1,3]]"),
        amplitude_modulation=r.boolean("model.amplitude_modulation"),
        noise_hidden=r.integer("model.noise_hidden", 0),
        d_periods=r.ints("model.d_periods"),
        d_scales=r.integer("model.d_scales", 0),
        fm_weight=r.number("model.fm_weight"),
        adv_weight=r.number("model.adv_weight"),
        distance_weight=r.number("model.distance_weight", positive=True),
        dis_every=r.integer("model.dis_every", 2),
        lr_dis=r.number("model.lr_dis", positive=True),
        lr_end_factor=r.number("model.lr_end_factor", positive=True),
        regularizer=r.choice("model.regularizer", ("kl", "wasserstein")),
        noise_augmentation=r.integer("model.noise_augmentation", 0),
        valid_crop=r.boolean("model.valid_crop"),
        streaming=r.boolean("model.streaming"),
    )


def _prior(r: Reader) -> PriorSpec:
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


def _train(r: Reader, phase: PhaseSpec) -> TrainSpec:
    """Unset (null) intervals follow the step budget (ravejobs/cadence.py)."""
    return TrainSpec(
        val_every=(r.steps("train.val_every", 1) if r.get("train.val_every") is not None
                   else cadence.val_every(phase.max_steps)),
        checkpoint_every_steps=r.steps("train.checkpoint_every_steps", 1),
        checkpoint_every_minutes=r.number("train.checkpoint_every_minutes", positive=True),
        keep_last=r.integer("train.keep_last", 1),
        log_every=(r.steps("train.log_every", 1) if r.get("train.log_every") is not None
                   else cadence.log_every(phase.max_steps)),
        num_workers=r.integer("train.num_workers", 0),
        precision=r.choice("train.precision", ("32", "bf16-mixed", "16-mixed")),
        val_fraction=r.number("train.val_fraction", positive=True),
    )


def _cluster(r: Reader) -> ClusterSpec:
    nodes = r.integer("cluster.nodes", 1)
    gpus = r.integer("cluster.gpus_per_node", 0)
    whole_nodes = r.boolean("cluster.whole_nodes_only")
    if whole_nodes and nodes > 1 and gpus == 1:
        gpus = r.integer("cluster.max_gpus_per_node", 0)  # several nodes: whole nodes
    return ClusterSpec(
        name=r.text("cluster.name") or "",
        executor=r.choice("cluster.executor", EXECUTORS),
        account=r.text("cluster.account") or None,
        partition=r.text("cluster.partition"),
        gpu_type=r.text("cluster.gpu_type"),
        gpus_per_node=gpus,
        gpu_types=r.words("cluster.gpu_types"),
        max_gpus_per_node=r.integer("cluster.max_gpus_per_node", 0),
        cpus_per_task=r.integer("cluster.cpus_per_task", 1),
        mem_gb=r.number("cluster.mem_gb", positive=True),
        time_min=r.integer("cluster.time_min", 1),
        max_time_min=r.integer("cluster.max_time_min", 1),
        max_array_size=r.optional_integer("cluster.max_array_size"),
        max_submit=r.optional_integer("cluster.max_submit"),
        array_parallelism=r.integer("cluster.array_parallelism", 1),
        signal_delay_s=r.integer("cluster.signal_delay_s", 1),
        rgu_per_gpu=r.mapping("cluster.rgu_per_gpu"),
        setup=r.words("cluster.setup"),
        nodes=nodes,
        mig_types=r.words("cluster.mig_types"),
        whole_nodes_only=whole_nodes,
        request_memory=r.boolean("cluster.request_memory"),
        compute_writes=r.choice("cluster.compute_writes", ("project", "scratch")),
        needs_account=r.boolean("cluster.needs_account"),
    )


def _dataset(r: Reader) -> DatasetSpec:
    d = DatasetSpec(
        name=r.text("dataset.name") or "",
        id=r.integer("dataset.id", 0),
        label=r.text("dataset.label") or "",
        hours=r.number("dataset.hours"),
        raw=r.text("dataset.raw") or "",
        packed=r.text("dataset.packed") or "",
        sr=r.integer("dataset.sr", 1),
        augment=r.boolean("dataset.augment"),
        generate=r.boolean("dataset.generate"),
    )
    return augmented(d) if d.augment else d


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
    r = Reader(cfg, problems)
    stage = r.choice("stage", ("all", *STAGES))
    phase = _phase(r)
    model = _model(r)
    spec = RunSpec(
        dataset=_dataset(r),
        phase=phase,
        kl=_kl(r),
        model=model,
        prior=_prior(r),
        train=_train(r, phase),
        cluster=_cluster(r),
        storage=StorageSpec(kind=r.choice("storage.kind", ("project", "scratch")),
                            root=r.text("storage.root") or "",
                            data_root=r.text("storage.data_root") or ""),
        seed=r.integer("seed", 0),
        stage=stage,
        tag=str(r.get("tag") or ""),
        reason=str(r.get("reason") or ""),
        overrides=tuple(overrides),
    )
    problems += rules.dataset_problems(spec.dataset, model)
    problems += rules.kl_problems(spec.kl, phase)
    problems += rules.model_problems(model)
    problems += rules.cluster_problems(spec.cluster)
    problems += rules.storage_problems(spec.cluster, spec.storage)
    problems += rules.stage_problems(stage, spec.prior)
    problems += value_problems(spec)
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
