"""How a stage ends other than finishing, and invalid settings: bottom layer, so export, data
and config need no job layer."""

from __future__ import annotations


class StageRefused(RuntimeError):
    """A stage that will not run on its input (a prior for a VAE-only model, say)."""


class StageDiverged(RuntimeError):
    """Training diverged beyond its rollbacks; the message is one line naming step and metric."""


class StageInterrupted(RuntimeError):
    """Stopped by hand (SIGTERM, Ctrl-C) after saving; running it again resumes."""


class ConfigError(ValueError):
    """One or more invalid settings; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
