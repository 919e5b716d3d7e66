"""TorchScript export of trained runs for nn~ (Max/MSP, PureData, Ableton); see docs/export.md.

Heavy imports (torch, the model) stay inside functions so `ravejobs --help` stays fast.
"""

from ravejobs.export.cli import register

__all__ = ["register"]
