"""How a stage ends other than finishing: bottom layer, so export and data need no job layer."""

from __future__ import annotations


class StageRefused(RuntimeError):
    """A stage that will not run on its input (a prior for a VAE-only model, say)."""


class StageInterrupted(RuntimeError):
    """Stopped by hand (SIGTERM, Ctrl-C) after saving; running it again resumes."""
