"""Job-side helper for tests on the real cluster: a train stage that pauses at a Lightning hook.

Imported by the SLURM job (tests/ is on its PYTHONPATH), so it must stay importable on its own.
At `hook` it writes `<marker>.ready`, then waits until the test has sent its signal and written
`<marker>.sent`, then until the signal has landed: inside a step the runner's guard holds it
(`signals.pending`), in setup submitit's handler runs at once and requeues (this process ends
inside the wait). So the signal lands at a known moment of the job's life, with no fixed sleep.
The requeued job is a plain `StageRunner` (what `checkpoint` returns), so only the first start
pauses.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from ravejobs.jobs.runner import StageRunner


class _Pause(pl.Callback):
    def __init__(self, hook: str, marker: str):
        self.hook, self.marker, self.done = hook, marker, False

    def _pause(self, hook: str, trainer: pl.Trainer) -> None:
        if hook != self.hook or self.done:
            return
        self.done = True
        signals = next(c.session.signals for c in trainer.callbacks if hasattr(c, "session"))
        Path(self.marker + ".ready").write_text(hook)
        deadline = time.monotonic() + 120
        while not Path(self.marker + ".sent").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        deadline = time.monotonic() + 60  # the signal is on its way: wait until it has landed
        while not signals.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        if not signals.pending:
            raise RuntimeError(f"USR2 did not arrive within 60 s of {self.marker}.sent")

    def setup(self, trainer, pl_module, stage):
        self._pause("setup", trainer)

    def on_train_batch_start(self, trainer, pl_module, *args):
        self._pause("first_step", trainer)


class PausedTrain(StageRunner):
    def __init__(self, run_dir: str, hook: str, marker: str):
        super().__init__("train", run_dir)
        self.hook, self.marker = hook, marker

    def __getstate__(self) -> dict[str, str]:
        return {"run_dir": self.run_dir, "hook": self.hook, "marker": self.marker}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["run_dir"], state["hook"], state["marker"])  # type: ignore[misc]

    def job_options(self) -> dict[str, Any]:
        return {"callbacks": [_Pause(self.hook, self.marker)]}
