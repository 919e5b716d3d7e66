"""Typed run specifications: the schema with every default (`schema`), typed reads (`reader`),
cross-field rules (`rules`), and the build from a composed config (`build`); the only place a
Hydra config is read. Everything downstream takes a `RunSpec`, a frozen dataclass of plain
values. Environment and disk probes are not here: `ravejobs.probes`, at the launch edge.
"""

from ravejobs.config.build import augmented, build_runspec, build_runspecs
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
from ravejobs.stages import NAMES as STAGES  # the stage table (ravejobs.stages)

__all__ = ["EXECUTORS", "KL_MODES", "STAGES", "ClusterSpec", "ConfigError", "DatasetSpec",
           "KLSpec", "ModelSpec", "PhaseSpec", "PriorSpec", "RunSpec", "StorageSpec",
           "TrainSpec", "augmented", "build_runspec", "build_runspecs"]
