"""Compose real Hydra configs from conf/ into RunSpecs for tests (no launcher involved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from ravejobs.config import ModelSpec, RunSpec, build_runspec

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_plain(overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("config", overrides=list(overrides))
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def compose_spec(overrides: list[str] | tuple[str, ...] = ()) -> RunSpec:
    return build_runspec(compose_plain(overrides), overrides)


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_model(name: str, sr: int) -> ModelSpec:
    """conf/model/<name>.yaml as the launcher composes it, for a corpus at `sr` (benchmarks)."""
    return compose_spec([f"model={name}", "dataset=as", f"dataset.sr={sr}", "dry_run=true"]).model
