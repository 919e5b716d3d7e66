"""The one runner of every stage: the callable submitit runs for each array task.

It owns a stage's life on the node: the log link, the admin header and footer, state.json's
status (running / finished / failed / requeued), the step-boundary signal guard, when a stage
with steps saves (`Cadence`), what state.json says of each checkpoint, and requeue at the time
limit. A stage (`jobs/train.py`, `prior.py`, `prepare.py`, `export.py`, named by the stage
table) is a plain object:

    stage = Job(run)                  # a RunDir
    stage.run(signals, **options)     # -> summary: {"reason": "finished" | "stopped by ..." |
                                      #    "stop_at=N", "step": int, ...} (both optional);
                                      # a stage with steps also gets `cadence=` (see Cadence)
    stage.restored                    # True once its whole state (optimizers too) is back
    stage.step                        # the step it is at (None before it knows)
    stage.save(reason)                # -> state.json fields of the checkpoint it wrote
                                      #    ({"checkpoint": path, "step": n, ...}), None if this
                                      #    process writes none (ranks other than 0)

The runner has a stage save only when `restored` is true, so a signal that lands while a
resumed job is still setting up requeues it without writing over the checkpoint; it then
records the checkpoint and its step together, so state.json never names a file that is not
written yet, nor a step its checkpoint does not hold.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import submitit

from ravejobs import checkpoint_files, stages
from ravejobs.diskfull import describe
from ravejobs.errors import StageDiverged, StageInterrupted, StageRefused
from ravejobs.jobid import current_job_id
from ravejobs.ranks import is_main_process
from ravejobs.rundir import RunDir
from ravejobs.stepsignals import StepBoundarySignals

JOBS = {s.name: s.job for s in stages.TABLE}  # stage -> "module:Class" (ravejobs.stages)


def job_class(stage: str) -> type:
    module, name = JOBS[stage].split(":")
    return getattr(importlib.import_module(module), name)


def _link_log(run: RunDir, job_id: str) -> None:
    """A link in the run folder to the task's submitit log, so admins find it by run."""
    try:
        paths = submitit.JobEnvironment().paths
    except RuntimeError:
        return
    run.logs.mkdir(parents=True, exist_ok=True)
    for kind, target in (("out", paths.stdout), ("err", paths.stderr)):
        link = run.logs / f"{job_id}.{kind}"
        if target.exists() and not link.exists():
            link.symlink_to(target)


def _ignore_late_time_limit() -> None:
    """Under SLURM, once a stage has finished, ignore the time-limit signal: arriving while
    Python shuts down (when it puts default handlers back) USR2 would kill the process and the
    job would end FAILED after finishing (seen on the test cluster under load)."""
    if os.environ.get("SLURM_JOB_ID") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class Cadence:
    """When a stage with steps saves, for every such stage (train and prior) alike.

    The stage reports each step boundary (`boundary`); the cadence saves, through the runner,
    every `every_steps` steps, once `every_minutes` have passed since the last save, at a
    milestone the stage names (the end of the VAE phase), at a stop and at the end. A save at
    the step already saved is skipped. `start` marks the step the stage resumed at (held by its
    checkpoint) and starts the clock.
    """

    def __init__(self, every_steps: int, every_minutes: float,
                 save: Callable[[str], dict[str, Any] | None],
                 clock: Callable[[], float] = time.monotonic):
        self.every_steps, self.every_minutes = max(1, every_steps), every_minutes
        self._save, self.clock = save, clock
        self.saved_step: int | None = None
        self.saved_at = clock()

    def start(self, step: int | None) -> None:
        """The stage starts stepping at `step`, which its checkpoint holds (None: save it)."""
        self.saved_step, self.saved_at = step, self.clock()

    def due(self, step: int, milestone: bool = False) -> bool:
        return (milestone or step % self.every_steps == 0
                or self.clock() - self.saved_at >= self.every_minutes * 60)

    def boundary(self, step: int, *, final: bool = False, milestone: bool = False,
                 stop: str = "") -> str:
        """After step `step`: save if it is time; the reason saved ('' when not)."""
        reason = "finished" if final else stop or ("periodic" if self.due(step, milestone)
                                                   else "")
        if reason:
            self.save(reason, step)
        return reason

    def save(self, reason: str, step: int | None) -> dict[str, Any] | None:
        """Save now (at a step boundary) unless `step` is saved already; the state.json fields
        of the checkpoint written, None when nothing was (saved already, state not restored,
        or a rank that writes nothing)."""
        if step is not None and step == self.saved_step:
            return None
        fields = self._save(reason)
        if fields is not None:
            self.saved_step, self.saved_at = step, self.clock()
        return fields


class StageRunner(submitit.helpers.Checkpointable):
    """Runs `stage` on `run_dir`; picklable with just those two strings.

    `options` go to the stage's `run` (tests pass hardware and callbacks); they are not pickled.
    """

    def __init__(self, stage: str, run_dir: str, **options: Any):
        self.stage = stage
        self.run_dir = str(run_dir)
        self.options = options
        self._job: Any = None
        self.cadence: Cadence | None = None

    def __getstate__(self) -> dict[str, str]:
        return {"stage": self.stage, "run_dir": self.run_dir}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["stage"], state["run_dir"])  # type: ignore[misc]

    def job_options(self) -> dict[str, Any]:
        """Keyword arguments for the stage's `run` (none in production)."""
        return dict(self.options)

    def __call__(self) -> Any:
        from ravejobs.jobs.header import print_footer, print_header

        run = RunDir.open(self.run_dir)
        job_id = current_job_id()
        if is_main_process():  # the other ranks of a multi-GPU run write nothing here (one
            # removing the temporary of rank 0's write in progress would fail that write)
            run.remove_stale_temps()  # issue 13: a killed write's temporary goes at the next start
            _link_log(run, job_id)
            run.update_state(status="running", job_id=job_id, message="",
                             started=run.state().started or time.time())
        signals = StepBoundarySignals()
        try:  # from here on, whatever fails (an unreadable spec.json too) is recorded
            spec = run.spec()
            print_header(spec, run)
            self._job = job_class(self.stage)(run)
            options = self.job_options()
            if stages.stage(self.stage).steps:
                t = spec.train
                self.cadence = Cadence(t.checkpoint_every_steps, t.checkpoint_every_minutes,
                                       self.save)
                options["cadence"] = self.cadence
            with signals:  # installed before any Trainer.fit, so Lightning chains SIGTERM
                summary = self._job.run(signals, **options)
        except Exception as err:  # recorded for `ravejobs status`, then re-raised for SLURM
            line = describe(err, run.path)
            run.update_state(status="failed", message=line)
            print_footer(run, f"failed: {line}", self._step(run))
            traceback.print_exc(file=sys.stderr)
            raise
        # a summary without "reason" finished; without "step", the step is state.json's
        reason = summary.get("reason", "finished")
        step = int(summary["step"]) if "step" in summary else self._step(run)
        print_footer(run, summary.get("message") or reason, step)
        if reason == "diverged":  # one line, no traceback: the run is not broken code
            line = summary["message"]
            run.update_state(status="diverged", message=line)
            print(f"{self.stage} {line}", file=sys.stderr)
            raise StageDiverged(line)
        if reason.startswith("stopped by"):
            message = (f"{reason} at step {step}; checkpoint "
                       f"{summary.get('checkpoint') or 'none'}; run again to resume")
            run.update_state(status="failed", message=message)
            raise StageInterrupted(message)
        if reason == "finished":
            run.update_state(status="finished")
            _ignore_late_time_limit()
        return summary

    def _step(self, run: RunDir) -> int:
        step = getattr(self._job, "step", None)
        return int(step) if step is not None else run.state().step

    def save(self, reason: str) -> dict[str, Any] | None:
        """Have the stage write its checkpoint now (at a step boundary), then record it:
        state.json names the checkpoint with its step, only once it is written."""
        job = self._job
        if job is None or not job.restored:
            return None
        fields = job.save(reason)
        if fields:
            run = RunDir.open(self.run_dir)
            run.update_state(**fields)
            checkpoint_files.drop_legacy(run.checkpoints)  # state.json names last.ckpt now
        return fields

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """submitit's time-limit handler (held to a step boundary): save if the stage's state
        is whole, then ask to be run again under the same job id."""
        from ravejobs.jobs.header import print_footer

        run = RunDir.open(self.run_dir)
        job = self._job
        if job is not None and job.restored:
            if self.cadence is not None:
                self.cadence.save("requeue", job.step)
            else:
                self.save("requeue")
            step = run.state().step
            run.update_state(status="requeued", message=f"requeued at step {step}")
            print_footer(run, "requeued at time limit", step)
        else:
            kept = run.state().checkpoint
            print(f"{self.stage}: requeue before its state was restored: nothing saved; "
                  f"{kept or 'no checkpoint yet'} stays", flush=True)
            run.update_state(status="requeued",
                             message="requeued before the stage resumed; nothing saved")
        return submitit.helpers.DelayedSubmission(StageRunner(self.stage, self.run_dir))


def by_hand(stage: str, argv: list[str] | None = None) -> int:
    """Run one stage of one run folder in this process; the exit code says how it ended.

    0 finished, 1 refused (the message says why), 2 bad usage, 3 stopped by hand (resumable),
    4 diverged (training gave non-finite values beyond its rollbacks; one line says where).
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m ravejobs.jobs.{stage} RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    if not (run_dir / "run.json").is_file():
        print(f"{run_dir}: not a run folder (no run.json); give a folder under "
              "<storage.root>/runs (or data/ for prepare)", file=sys.stderr)
        return 2
    try:
        result = StageRunner(stage, str(run_dir))()
    except StageRefused as err:
        print(f"{stage} refused: {err}", file=sys.stderr)
        return 1
    except StageInterrupted as err:
        print(f"{stage}: {err}", file=sys.stderr)
        return 3
    except StageDiverged:
        return 4  # the runner printed the one line
    print(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m ravejobs.jobs.runner STAGE RUN_DIR`."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in JOBS:
        print(f"usage: python -m ravejobs.jobs.runner {{{','.join(JOBS)}}} RUN_DIR",
              file=sys.stderr)
        return 2
    return by_hand(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
