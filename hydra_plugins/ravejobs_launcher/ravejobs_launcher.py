"""Our Hydra launcher: the whole sweep is validated, planned and submitted as staged arrays.

Hydra's stock launchers run (or submit) one job per sweep point and the submitit one blocks
until they finish; neither can validate all points first or chain stages with dependencies.
This one hands every composed point to `ravejobs.sweep.launch_sweep` and returns at once.
"""


from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict


@dataclass
class RavejobsLauncherConf:
    _target_: str = "hydra_plugins.ravejobs_launcher.ravejobs_launcher.RavejobsLauncher"


ConfigStore.instance().store(
    group="hydra/launcher", name="ravejobs", node=RavejobsLauncherConf, provider="ravejobs"
)


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
        points = []
        for overrides in job_overrides:
            cfg = loader.load_sweep_config(self.config, list(overrides))
            points.append((plain_config(cfg), tuple(overrides)))
        result = launch_sweep(points)
        ret = JobReturn(overrides=[], status=JobStatus.COMPLETED)
        ret.return_value = result
        return [ret]
