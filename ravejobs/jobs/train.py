"""The train stage: one RAVE run (VAE phase, then adversarial phase) on one node.

submitit pickles a `TrainJob(run_dir)`; at the time limit its SIGUSR2 handler calls
`checkpoint()` on the running instance. Our session defers that signal to the next step
boundary (see ravejobs.stepsignals), `checkpoint()` writes `last.ckpt` there and returns a
resubmission of a fresh `TrainJob` on the same folder, which resumes at the exact step and phase.

By hand: `python -m ravejobs.jobs.train RUN_DIR` (Ctrl-C or SIGTERM saves at the next step
boundary, then stops; running it again resumes).
"""

from __future__ import annotations

import sys
from typing import Any

import submitit

from ravejobs.diskfull import describe
from ravejobs.jobs.runner import StageInterrupted, by_hand
from ravejobs.rundir import RunDir


class TrainingInterrupted(StageInterrupted):
    """Stopped early by SIGTERM/SIGINT after saving; running the job again resumes."""


class TrainJob(submitit.helpers.Checkpointable):
    def __init__(self, run_dir: str):
        self.run_dir = str(run_dir)
        self._session: Any = None

    def __getstate__(self) -> dict[str, str]:
        return {"run_dir": self.run_dir}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["run_dir"])  # type: ignore[misc]

    def make_session(self, run: RunDir, **options: Any) -> Any:
        """Stage the corpus and build the training session (tests pass options through)."""
        from ravejobs.data.loader import WindowSampler
        from ravejobs.data.stage import stage_store
        from ravejobs.data.store import PackedStore
        from ravejobs.model.session import TrainSession

        spec = run.spec()
        store = PackedStore(stage_store(spec.dataset.packed))
        if store.sr != spec.model.sr:
            raise ValueError(f"{spec.dataset.packed}: packed at {store.sr} Hz but model.sr="
                             f"{spec.model.sr}; prepare the corpus at {spec.model.sr} Hz")
        args = (store, spec.model.n_signal)
        train = WindowSampler(*args, "train", spec.train.val_fraction, spec.seed)
        val = WindowSampler(*args, "val", spec.train.val_fraction, spec.seed)
        return TrainSession(spec, run, train, val, **options)

    def __call__(self, **options: Any) -> dict[str, Any]:
        from ravejobs.jobs.header import print_footer, print_header

        run = RunDir.open(self.run_dir)
        print_header(run.spec(), run)
        try:
            self._session = self.make_session(run, **options)
            summary = self._session.run()
        except Exception as err:
            step = self._session.step if self._session is not None else run.state().step
            print_footer(run, f"failed: {describe(err, run.path)}", step)
            raise
        reason = summary["reason"]
        if reason == "finished":
            run.update_state(status="finished", step=summary["step"], phase=summary["phase"],
                             checkpoint=summary["checkpoint"], message="")
        print_footer(run, reason, summary["step"])
        if reason.startswith("stopped by"):
            raise TrainingInterrupted(f"{reason} at step {summary['step']}; checkpoint "
                                      f"{summary['checkpoint']}; run again to resume")
        return summary

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Save at the current step boundary and ask submitit to run a fresh job on the folder."""
        run = RunDir.open(self.run_dir)
        session = self._session
        if session is not None and session.restored:
            from ravejobs.jobs.header import print_footer

            path = session.save("requeue")
            run.update_state(status="requeued", checkpoint=path, step=session.step,
                             message=f"requeued at step {session.step}")
            print_footer(run, "requeued at time limit", session.step)
        else:  # still setting up: the checkpoint on disk is the newest whole state
            kept = session.checkpoint_path if session is not None else ""
            print(f"train: requeue before training resumed: nothing saved; "
                  f"{kept or 'no checkpoint yet'} stays", flush=True)
            run.update_state(status="requeued",
                             message="requeued before training resumed; nothing saved")
        return submitit.helpers.DelayedSubmission(TrainJob(self.run_dir))


def main(argv: list[str] | None = None) -> int:
    return by_hand("train", argv)


if __name__ == "__main__":
    sys.exit(main())
