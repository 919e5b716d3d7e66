"""Our Hydra launcher (and sweeper): the whole sweep is validated, planned and submitted.

Hydra's stock launchers run (or submit) one job per sweep point and the submitit one blocks
until they finish; neither can validate all points first or chain stages with dependencies.
This one hands every composed point to `ravejobs.sweep.launch_sweep` and returns at once.

Composing is Hydra's slow part (about 0.4 s a point on a laptop core), so points are composed
once per distinct choice of config groups, and plain `key=value` overrides are then applied
with OmegaConf, which gives the same config. The sweeper skips the basic sweeper's extra
composition of every point (the launcher composes them anyway, in this process).
"""


from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from ravejobs.config.store import register as register_defaults


@dataclass
class RavejobsLauncherConf:
    _target_: str = "hydra_plugins.ravejobs_launcher.ravejobs_launcher.RavejobsLauncher"


@dataclass
class RavejobsSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.ravejobs_launcher.ravejobs_launcher.RavejobsSweeper"


register_defaults()  # the schema's defaults: conf/config.yaml composes over them
ConfigStore.instance().store(
    group="hydra/launcher", name="ravejobs", node=RavejobsLauncherConf, provider="ravejobs"
)
ConfigStore.instance().store(
    group="hydra/sweeper", name="ravejobs", node=RavejobsSweeperConf, provider="ravejobs"
)


class RavejobsSweeper(BasicSweeper):
    """The basic sweeper without its up-front composition of every point (see module doc)."""

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        return None


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without Hydra's own node: what `ravejobs.config` validates."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


class RavejobsLauncher(Launcher):
    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from ravejobs.sweep import launch_sweep

        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        parser = OverridesParser.create()
        composed: dict[tuple[str, ...], DictConfig] = {}
        points = []
        for overrides in job_overrides:
            structural, values = [], []
            for text, parsed in zip(overrides, parser.parse_overrides(list(overrides)),
                                    strict=True):
                plain = not (parsed.is_add() or parsed.is_delete() or parsed.is_force_add()
                             or parsed.package or loader.get_group_options(parsed.key_or_group))
                (values if plain else structural).append((text, parsed))
            key = tuple(text for text, _ in structural)
            if key not in composed:
                composed[key] = loader.load_sweep_config(self.config, list(key))
            cfg = composed[key].copy()
            for _, parsed in values:
                OmegaConf.update(cfg, parsed.key_or_group, parsed.value(), merge=False)
            points.append((plain_config(cfg), tuple(overrides)))
        result = launch_sweep(points)
        ret = JobReturn(overrides=[], status=JobStatus.COMPLETED)
        ret.return_value = result
        return [ret]
