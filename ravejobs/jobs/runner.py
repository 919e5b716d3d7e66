"""The callable submitit runs for every array task: one stage of one run folder.

It links the task's log into the run folder (named by job and task), keeps state.json honest
(running / finished / failed / requeued) and hands the work to the stage's job class. The stage
job saves its own checkpoint when submitit's time-limit signal arrives; this wrapper then asks
submitit to requeue it under the same job id.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import submitit

from ravejobs.diskfull import describe
from ravejobs.rundir import RunDir


class StageRefused(RuntimeError):
    """A stage that will not run on its input (a prior for a VAE-only model, say)."""


class StageInterrupted(RuntimeError):
    """Stopped by hand (SIGTERM, Ctrl-C) after saving; running it again resumes."""


JOBS = {
    "prepare": "ravejobs.jobs.prepare:PrepareJob",
    "train": "ravejobs.jobs.train:TrainJob",
    "prior": "ravejobs.jobs.prior:PriorJob",
    "export": "ravejobs.jobs.export:ExportJob",
}


def job_class(stage: str) -> type:
    module, name = JOBS[stage].split(":")
    return getattr(importlib.import_module(module), name)


def current_job_id() -> str:
    """`<array>_<task>` under SLURM, submitit's id locally, '' when run by hand."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    try:
        return str(submitit.JobEnvironment().job_id)
    except RuntimeError:
        return os.environ.get("SLURM_JOB_ID", "")


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


class StageRunner(submitit.helpers.Checkpointable):
    """Runs `stage` on `run_dir`; picklable with just those two strings."""

    def __init__(self, stage: str, run_dir: str):
        self.stage = stage
        self.run_dir = str(run_dir)
        self._job: Any = None

    def __getstate__(self) -> dict[str, str]:
        return {"stage": self.stage, "run_dir": self.run_dir}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["stage"], state["run_dir"])  # type: ignore[misc]

    def __call__(self) -> Any:
        run = RunDir.open(self.run_dir)
        run.remove_stale_temps()  # issue 13: a killed write's temporary goes at the next start
        job_id = current_job_id()
        _link_log(run, job_id)
        run.update_state(status="running", job_id=job_id, message="",
                         started=run.state().started or time.time())
        self._job = job_class(self.stage)(self.run_dir)
        try:
            result = self._job(**self.job_options())
        except Exception as err:  # recorded for `ravejobs status`, then re-raised for SLURM
            run.update_state(status="failed", message=describe(err, run.path))
            traceback.print_exc(file=sys.stderr)
            raise
        state = run.state()
        if state.status != "finished":
            run.update_state(status="finished")
        return result

    def job_options(self) -> dict[str, Any]:
        """Keyword arguments for the stage's job (none in production; tests add callbacks)."""
        return {}

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        if self._job is not None and hasattr(self._job, "checkpoint"):
            self._job.checkpoint(*args, **kwargs)
        run = RunDir.open(self.run_dir)
        run.update_state(status="requeued", message="requeued at time limit")
        return submitit.helpers.DelayedSubmission(StageRunner(self.stage, self.run_dir))


def by_hand(stage: str, argv: list[str] | None = None) -> int:
    """Run one stage of one run folder in this process; the exit code says how it ended.

    0 finished, 1 refused (the message says why), 2 bad usage, 3 stopped by hand (resumable).
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
