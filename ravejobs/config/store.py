"""The schema's defaults as Hydra's base config (`ravejobs_defaults` in conf/config.yaml).

Registered from the Hydra plugin module (hydra_plugins/ravejobs_launcher), which Hydra imports
before it composes anything, so `launch.py`, the launcher and tests' `compose` all see it. It
is a plain node, not a structured config: OmegaConf's type checks would refuse `5e6` steps and
stop at the first bad value; `ravejobs.config.reader` checks types instead, all at once.
"""

from __future__ import annotations

from ravejobs.config.schema import defaults_node

NAME = "ravejobs_defaults"


def register() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=NAME, node=defaults_node(), provider="ravejobs")
