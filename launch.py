"""Hydra entry point: `python launch.py -m dataset=autechre_old,viglienzoni phase.warmup=5e6`.

With -m our launcher (hydra_plugins/ravejobs_launcher) validates the whole sweep and submits it
as staged arrays; without -m the single config goes the same way.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from ravejobs.sweep import launch_single

    launch_single(cfg)


if __name__ == "__main__":
    main()
