"""Issue 13 bug 1 on the real cluster: USR2 during a resumed job's setup, or at its first step.

A run is trained in-process to step 6 (GAN phase, both optimizers have state). Two SLURM jobs
then resume it (one folder each); each pauses at a known hook (tests/slurm_pause.py) and gets
`scancel --signal=USR2` there, which is what SLURM sends at the time limit. During setup nothing
may be saved (last.ckpt stays byte for byte); at the first step the save comes after that step
with whole optimizer states. Both jobs must then be requeued under the same id and finish.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train_helpers import corpus, make_run, train  # noqa: F401

from ravejobs import slurm
from ravejobs.model import checkpoints

pytestmark = pytest.mark.slurm
TESTS = Path(__file__).resolve().parent


def _wait_for(path: Path, job: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        record = slurm.sacct([job]).get(job)
        assert record is None or not record.final, f"job {job} ended early: {record}"
        assert time.monotonic() < deadline, f"{path} not written after {timeout:.0f} s"
        time.sleep(0.5)


def test_usr2_during_setup_and_first_step_keeps_whole_state(slurm_cluster, tmp_path,
                                                            corpus, monkeypatch):  # noqa: F811
    import submitit
    from slurm_pause import PausedTrain

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH", "")]))
    runs, jobs = {}, {}
    for hook in ("setup", "first_step"):
        _, run = make_run(tmp_path / hook, corpus)
        train(run, stop_at=6)
        runs[hook] = run
        executor = submitit.SlurmExecutor(folder=tmp_path / hook / "slurm", python=sys.executable)
        executor.update_parameters(time=10, cpus_per_task=1, mem="2G", signal_delay_s=30,
                                   stderr_to_stdout=True, additional_parameters={"requeue": True})
        jobs[hook] = executor.submit(PausedTrain(str(run.path), hook, str(tmp_path / hook / "m")))
    ids = [j.job_id for j in jobs.values()]
    try:
        before = {h: (r.checkpoints / checkpoints.LAST).read_bytes() for h, r in runs.items()}
        for hook, job in jobs.items():
            marker = tmp_path / hook / "m"
            _wait_for(Path(f"{marker}.ready"), job.job_id, 240)
            subprocess.run(["scancel", "--signal=USR2", job.job_id], check=True, timeout=30)
            Path(f"{marker}.sent").write_text("")
        deadline = time.monotonic() + 300
        records: dict = {}
        while time.monotonic() < deadline:
            records = slurm.sacct(ids)
            if all(i in records and records[i].final for i in ids):
                break
            time.sleep(2)
        for hook, job in jobs.items():
            run, record = runs[hook], records[job.job_id]
            log = job.paths.stdout.read_text()
            assert record.state == "COMPLETED" and record.restarts == 1, (record, log)
            last = checkpoints.read(run.checkpoints / checkpoints.LAST, lazy=False)
            assert last["step"] == 8 and all(len(o["state"]) for o in last["optimizers"]), log
            if hook == "setup":
                assert "saved last.ckpt at step 6 (requeue)" not in log, log
                assert "train: requeue before its state was restored: nothing saved" in log, log
                # what the requeued start resumed from is the untouched checkpoint
                assert log.count("resuming from") == 2 and before[hook], log
            else:
                assert "saved last.ckpt at step 7 (requeue)" in log, log
                assert "at step 7 (phase gan)" in log, log
    finally:
        live = [i for i, r in slurm.sacct(ids).items() if not r.final]
        if live:
            slurm.cancel(live)
