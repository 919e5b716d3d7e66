"""Run names in the notebook's style and signatures of what makes a run different.

A name (`03-TR-07-AS-AUG`) is for people; the signature (8 hex digits) is for identity: a hash
of the result-affecting settings that differ from the schema's defaults (config/schema.py: a
default changed there changes the signature of runs that kept it). Settings that do not
change what is trained (cluster, storage, paths, logging cadence, stage, tag) are left out, so a
sweep moved to another cluster finds its runs again; the world size (ranks) enters only when it is
above 1, since `model.batch` is per GPU and more ranks train on a larger global batch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from functools import cache
from typing import Any

from ravejobs import cadence, stages
from ravejobs.config.schema import KLSpec, ModelSpec, PhaseSpec, PriorSpec, RunSpec, TrainSpec

# Stage numbers follow the notebook: 03-TR-… models, 04-TP-… their priors.
STAGE_CODES = {s.name: (s.number, s.code) for s in stages.TABLE}

# Train settings that change results; checkpoint cadence and workers do not.
_TRAIN_KEYS = ("val_every", "precision", "val_fraction")


@cache
def _defaults() -> dict[str, Any]:
    """The schema's defaults, flattened: what a signature is a delta against. An unset
    train.val_every follows the budget, and the default budget gets the long-run interval."""
    train = asdict(TrainSpec())
    train["val_every"] = cadence.val_every(PhaseSpec().max_steps)
    base: dict[str, Any] = {}
    _flatten("", {"model": asdict(ModelSpec()), "kl": asdict(KLSpec()),
                  "prior": asdict(PriorSpec()),
                  "train": {k: train[k] for k in _TRAIN_KEYS}}, base)
    base["seed"] = next(f.default for f in fields(RunSpec) if f.name == "seed")
    return base


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, sub, out)
    else:
        out[prefix] = list(value) if isinstance(value, tuple) else value


def identity(spec: RunSpec, stage: str = "train") -> dict[str, Any]:
    """The settings that decide what a stage produces, flattened to dotted keys."""
    out: dict[str, Any] = {"dataset": spec.dataset.name}
    if stage == "prepare":
        return {**out, "dataset.sr": spec.dataset.sr, "dataset.augment": spec.dataset.augment}
    _flatten("phase", {"warmup": spec.phase.warmup, "gan_steps": spec.phase.gan_steps}, out)
    _flatten("model", asdict(spec.model), out)
    kl = asdict(spec.kl)
    if spec.kl.mode == "fixed":
        kl = {"mode": "fixed", "beta": spec.kl.beta}
    _flatten("kl", kl, out)
    _flatten("train", {k: getattr(spec.train, k) for k in _TRAIN_KEYS}, out)
    out["seed"] = spec.seed
    if spec.cluster.world_size > 1:  # model.batch is per GPU: more ranks, a larger global batch
        out["world_size"] = spec.cluster.world_size
    if stage == "prior":
        _flatten("prior", asdict(spec.prior), out)
    return out


def delta(spec: RunSpec, stage: str = "train") -> dict[str, Any]:
    """What this run changes against the built-in defaults (what the signature hashes)."""
    base = _defaults()
    if spec.kl.mode == "fixed":
        keep = ("kl.mode", "kl.beta")
        base = {k: v for k, v in base.items() if not k.startswith("kl.") or k in keep}
    return {k: v for k, v in sorted(identity(spec, stage).items()) if base.get(k, object()) != v}


def signature(spec: RunSpec, stage: str = "train") -> str:
    """8 hex digits; equal for runs that train the same thing, different otherwise."""
    payload = json.dumps({"stage": stage, **delta(spec, stage)}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:8]


def run_name(spec: RunSpec, stage: str = "train") -> str:
    """`03-TR-07-AS-AUG`: stage number, stage code, corpus id, corpus label, tag."""
    number, code = STAGE_CODES[stage]
    parts = [f"{number:02d}", code, f"{spec.dataset.id:02d}", spec.dataset.label.upper()]
    if spec.tag:
        parts.append(spec.tag.upper().replace(" ", "-"))
    return "-".join(parts)


def run_dirname(spec: RunSpec, stage: str = "train") -> str:
    """Folder name of a run: readable name plus signature, so same names never collide."""
    return f"{run_name(spec, stage)}.{signature(spec, stage)}"
