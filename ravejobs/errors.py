"""How a stage ends other than finishing: bottom layer, so export and data need no job layer."""

from __future__ import annotations


class StageRefused(RuntimeError):
    """A stage that will not run on its input (a prior for a VAE-only model, say)."""


class StageDiverged(RuntimeError):
    """Training diverged beyond its rollbacks; the message is one line naming step and metric."""


class StageInterrupted(RuntimeError):
    """Stopped by hand (SIGTERM, Ctrl-C) after saving; running it again resumes."""
