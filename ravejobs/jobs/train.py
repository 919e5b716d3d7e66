"""The train stage: one RAVE run (VAE phase, then adversarial phase) on one node.

A plain stage object for the runner (`jobs/runner.py`), which owns the header, footer, state,
signals and requeue. Here: stage the corpus, build the training session (`jobs/session.py`),
run it, and save when the runner asks. `restored` stays false until the session has put the
optimizer states back (at Lightning's `on_train_start`), so the runner never saves before.

By hand: `python -m ravejobs.jobs.train RUN_DIR` (Ctrl-C or SIGTERM saves at the next step
boundary, then stops; running it again resumes).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ravejobs.rundir import RunDir
from ravejobs.stepsignals import StepBoundarySignals

if TYPE_CHECKING:
    from ravejobs.jobs.runner import Cadence


class TrainJob:
    def __init__(self, run: RunDir):
        self.run_dir = run
        self.session: Any = None

    @property
    def step(self) -> int | None:
        return self.session.step if self.session is not None else None

    @property
    def restored(self) -> bool:
        return self.session is not None and self.session.restored

    def save(self, reason: str) -> dict[str, Any] | None:
        return self.session.save(reason)

    def make_session(self, signals: StepBoundarySignals, cadence: Cadence, **options: Any) -> Any:
        """Stage the corpus and build the training session (tests pass options through)."""
        from ravejobs.data.loader import WindowSampler
        from ravejobs.data.stage import stage_store
        from ravejobs.data.store import PackedStore
        from ravejobs.jobs.session import TrainSession

        run = self.run_dir
        spec = run.spec()
        store = PackedStore(stage_store(spec.dataset.packed))
        if store.sr != spec.model.sr:
            raise ValueError(f"{spec.dataset.packed}: packed at {store.sr} Hz but model.sr="
                             f"{spec.model.sr}; prepare the corpus at {spec.model.sr} Hz")
        args = (store, spec.model.n_signal)
        train = WindowSampler(*args, "train", spec.train.val_fraction, spec.seed)
        val = WindowSampler(*args, "val", spec.train.val_fraction, spec.seed)
        return TrainSession(spec, run, train, val, signals=signals, cadence=cadence, **options)

    def run(self, signals: StepBoundarySignals, cadence: Cadence, **options: Any) -> dict[str, Any]:
        """Train; `cadence` is the runner's (when to save, and what state.json records)."""
        self.session = self.make_session(signals, cadence, **options)
        summary = self.session.run()
        if summary["reason"] == "diverged":  # the runner records it and exits non-zero
            summary["message"] = (f"diverged at {self.session.model.diverged} after "
                                  f"{summary['rollbacks']} rollbacks to the last good "
                                  "checkpoint")
        if summary["reason"] == "finished":
            self.run_dir.update_state(step=summary["step"], phase=summary["phase"],
                                      checkpoint=summary["checkpoint"], message="")
        return summary


def main(argv: list[str] | None = None) -> int:
    from ravejobs.jobs.runner import by_hand

    return by_hand("train", argv)


if __name__ == "__main__":
    sys.exit(main())
