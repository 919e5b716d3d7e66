"""`ravejobs cancel SWEEP`: scancel every job of a sweep that can still run, and say so in its runs.

Only tasks sacct reports as not yet final are cancelled (scancel on a finished task is an
error on some sites); each cancelled run's state.json is marked failed "cancelled", so typing
the sweep again resubmits it and resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ravejobs import slurm
from ravejobs.manifest import Manifest, ManifestRun
from ravejobs.rundir import RunDir


def cancel_sweep(ref: str, stage: str | None = None, dry_run: bool = False) -> list[str]:
    """Cancel the sweep's live SLURM jobs (optionally one stage's); returns the job ids."""
    manifest = Manifest.load(ref)
    if manifest.executor != "slurm":
        print(f"sweep {manifest.sweep_id} ran on {manifest.cluster} ({manifest.executor}): "
              "its jobs ran in the launcher's foreground; nothing to cancel")
        return []
    runs = [r for r in manifest.runs if r.job_id and (stage is None or r.stage == stage)]
    if not runs:
        print(f"sweep {manifest.sweep_id}: no submitted jobs"
              + (f" in stage {stage}" if stage else ""))
        return []
    records = slurm.sacct([r.job_id for r in runs])
    live = [r for r in runs if r.job_id not in records or not records[r.job_id].final]
    if not live:
        print(f"sweep {manifest.sweep_id}: all {len(runs)} job(s) already ended; nothing to cancel")
        return []
    ids = [r.job_id for r in live]
    if dry_run:
        print(f"would cancel {len(ids)} job(s): {' '.join(ids)}")
        return ids
    slurm.cancel(ids)
    for run in live:
        _mark_cancelled(run)
    print(f"sweep {manifest.sweep_id}: cancelled {len(ids)} job(s): {' '.join(ids)}")
    return ids


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
    p.add_argument("--stage", choices=("prepare", "train", "prior", "export"),
                   help="only this stage's jobs")
    p.add_argument("--dry-run", action="store_true", help="list the jobs, cancel nothing")
    p.set_defaults(func=_main)
