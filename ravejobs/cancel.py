"""`ravejobs cancel SWEEP`: scancel every job of a sweep that can still run, and say so in its runs.

Every array the manifest ever recorded is asked about; only arrays with a task sacct reports as
not yet final are cancelled (scancel on a finished job is an error on some sites); each
cancelled run's state.json is marked failed "cancelled", so typing the sweep again resubmits it
and resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ravejobs import slurm, stages
from ravejobs.manifest import Manifest, ManifestRun
from ravejobs.rundir import RunDir


def cancel_sweep(ref: str, stage: str | None = None, dry_run: bool = False) -> list[str]:
    """Cancel every live SLURM job the sweep ever recorded (optionally one stage's).

    Every array in the manifest's submissions counts, not only the job each run names now:
    an array from an earlier launch can still be running after a later one was recorded.
    Returns the array (or job) ids cancelled.
    """
    manifest = Manifest.load(ref)
    if manifest.executor != "slurm":
        print(f"sweep {manifest.sweep_id} ran on {manifest.cluster} ({manifest.executor}): "
              "its jobs ran in the launcher's foreground; nothing to cancel")
        return []
    runs = [r for r in manifest.runs if r.job_id and (stage is None or r.stage == stage)]
    arrays = [str(s["job_id"]) for s in manifest.submissions if s.get("job_id") and
              (stage is None or str(s.get("array", "")).split(".")[0] == stage)]
    arrays = list(dict.fromkeys([*arrays, *(_array(r.job_id) for r in runs)]))
    if not arrays:
        print(f"sweep {manifest.sweep_id}: no submitted jobs"
              + (f" in stage {stage}" if stage else ""))
        return []
    records = slurm.sacct(arrays)
    live = [a for a in arrays if _live(a, records)]
    if not live:
        print(f"sweep {manifest.sweep_id}: all {len(arrays)} array(s) already ended; "
              "nothing to cancel")
        return []
    if dry_run:
        print(f"would cancel {len(live)} array(s): {' '.join(live)}")
        return live
    slurm.cancel(live)
    _wait_ended(live)  # a task starting as it is cancelled may still write "running"
    for run in runs:
        if _array(run.job_id) in live:
            _mark_cancelled(run)
    print(f"sweep {manifest.sweep_id}: cancelled {len(live)} array(s): {' '.join(live)}")
    return live


def _wait_ended(arrays: list[str], timeout_s: float = 30.0) -> None:
    """Wait (briefly) until the cancelled arrays have ended, so the run folders are marked after
    the last write of their jobs, not before it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = slurm.sacct(arrays)
        if not any(_live(a, records) for a in arrays):
            return
        time.sleep(1.0)


def _array(job_id: str) -> str:
    return str(job_id).split("_")[0]


def _live(array: str, records: dict) -> bool:
    """Some task of the array has not ended (or the scheduler does not know it yet)."""
    mine = [r for key, r in records.items() if _array(key) == array]
    return not mine or any(not r.final for r in mine)


def _mark_cancelled(run: ManifestRun) -> None:
    if not (Path(run.path) / "run.json").is_file():
        return
    folder = RunDir.open(run.path)
    if folder.state().status != "finished":
        folder.update_state(status="failed", message=f"cancelled (job {run.job_id})")


def _main(args: argparse.Namespace) -> int:
    cancel_sweep(args.sweep, stage=args.stage, dry_run=args.dry_run)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cancel", help="cancel a sweep's SLURM jobs",
        description="scancel every job of a sweep that has not ended; typing the sweep again "
                    "later resumes the cancelled runs from their checkpoints.",
    )
    p.add_argument("sweep", help="sweep id (under $RAVEJOBS_ROOT/sweeps), folder, manifest, "
                                 "or 'latest'")
    p.add_argument("--stage", choices=stages.NAMES,
                   help="only this stage's jobs")
    p.add_argument("--dry-run", action="store_true", help="list the jobs, cancel nothing")
    p.set_defaults(func=_main)
