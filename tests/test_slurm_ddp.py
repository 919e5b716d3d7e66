"""One run on two processes (DDP over gloo on the test cluster's CPUs), for real (issue 15).

`cluster.gpus_per_node=2` on the test cluster asks for two (fake) GPUs and two tasks; submitit
starts one process per task through srun and Lightning takes world size and ranks from SLURM.
Two identical sweeps run under two storage roots: A uninterrupted, B sent SIGUSR2 mid-run (the
time-limit signal), so it checkpoints at a step boundary, requeues under the same job id and
resumes. B must end with A's numbers at every step, and the chain (prior, export) must run on
the two-rank model.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ravejobs import slurm
from ravejobs.manifest import Manifest
from ravejobs.metrics import FILE, read_metrics

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SWEEP = ("dataset=demo", "cluster=testslurm", "cluster.gpus_per_node=2", "model.n_signal=2048",
         "model.batch=2", "prior.max_steps=2", "train.log_every=1", "phase.warmup=60",
         "phase.gan_steps=60", "train.checkpoint_every_steps=1000")
KEYS = ("distance", "loss_gen", "loss_dis", "kl", "validation")


def _launch(root: Path) -> Manifest:
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "launch.py", "-m", *SWEEP], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    sid = re.search(r"(sweep-[0-9a-f]{8})", out)
    assert sid, out
    return Manifest.load(root / "sweeps" / sid.group(1))


def _train(manifest: Manifest):
    return next(r for r in manifest.runs if r.stage == "train")


def _folder(manifest: Manifest, run) -> Path:
    """A run's folder; manifests may hold it relative to their storage root."""
    path = Path(run.path)
    return path if path.is_absolute() else Path(manifest.root) / path


def _rows(metrics: Path) -> dict[int, dict[str, float]]:
    """The last row of every (step, key) in the metrics log, by step."""
    out: dict[int, dict[str, float]] = {}
    for key, rows in read_metrics(metrics)[0].items():
        for step, (_, value) in rows.items():
            out.setdefault(step, {})[key] = value
    return out


def _logged_steps(metrics: Path) -> int:
    return max(_rows(metrics), default=0)


def _wait_final(ids: list[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    records: dict = {}
    while time.monotonic() < deadline:
        records = slurm.sacct(ids)
        if all(i in records and records[i].final for i in ids):
            return records
        time.sleep(2)
    raise AssertionError(f"not final after {timeout:.0f} s: "
                         f"{ {k: r.state for k, r in records.items()} }")


@pytest.fixture(scope="module")
def two_ranks(slurm_cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    roots = {"a": base / "root A $x", "b": base / "root B 'y'"}
    manifests = {k: _launch(root) for k, root in roots.items()}
    ids = [r.job_id for m in manifests.values() for r in m.runs if r.job_id]
    try:
        train_b = _train(manifests["b"])
        metrics_b = _folder(manifests["b"], train_b) / FILE
        deadline = time.monotonic() + 300
        while _logged_steps(metrics_b) < 15:
            assert time.monotonic() < deadline, "run B never reached step 15"
            if int(time.monotonic()) % 5 == 0:
                record = slurm.sacct([train_b.job_id]).get(train_b.job_id)
                assert record is None or not record.final, f"run B ended early: {record}"
            time.sleep(0.25)
        signalled_at = _logged_steps(metrics_b)
        sent = subprocess.run(["scancel", "--signal=USR2", train_b.job_id],
                              capture_output=True, text=True, timeout=30)
        assert sent.returncode == 0, sent.stderr
        records = _wait_final(ids, 600)
        yield {"roots": roots, "manifests": manifests, "records": records,
               "signalled_at": signalled_at}
    finally:
        live = [i for i, r in slurm.sacct(ids).items() if not r.final]
        if live:
            slurm.cancel(live)


def test_two_ranks_train_one_run_and_the_chain_follows(two_ranks):
    manifest, records = two_ranks["manifests"]["a"], two_ranks["records"]
    for run in manifest.runs:
        assert records[run.job_id].state == "COMPLETED", (run.stage, records[run.job_id])
    train = _train(manifest)
    rows = _rows(_folder(manifest, train) / FILE)
    assert sorted(rows) == list(range(1, 121))  # rank 0 alone writes: every step once
    export = next(r for r in manifest.runs if r.stage == "export")
    assert list(_folder(manifest, export).rglob("*.ts")), "no TorchScript file exported"


def test_each_rank_has_its_log_and_the_header_names_them(two_ranks):
    folder = two_ranks["manifests"]["a"].folder / "slurm" / "train"
    script = next(folder.glob("*_submission.sh")).read_text()
    assert "#SBATCH --ntasks-per-node=2\n" in script and "#SBATCH --gpus-per-node=2\n" in script
    rank0 = next(folder.glob("*_0_log.out")).read_text()
    rank1 = next(folder.glob("*_1_log.out")).read_text()
    assert "ranks      2 processes (1 node(s) x 2" in rank0
    assert "global_rank=0(2)" in rank0 and "global_rank=1(2)" in rank1  # submitit's tasks
    assert "rank 1 of 2" in rank1 and "ravejobs job end" not in rank1


def test_a_requeued_two_rank_run_resumes_every_rank_with_the_same_numbers(two_ranks):
    ma, mb = two_ranks["manifests"]["a"], two_ranks["manifests"]["b"]
    a, b = _train(ma), _train(mb)
    record = two_ranks["records"][b.job_id]
    assert record.state == "COMPLETED" and record.restarts >= 1, record
    rows_a = _rows(_folder(ma, a) / FILE)
    rows_b = _rows(_folder(mb, b) / FILE)
    assert sorted(rows_b) == sorted(rows_a) == list(range(1, 121))
    resumed = [s for s in rows_a if s > two_ranks["signalled_at"] + 5]
    assert len(resumed) > 60  # most steps, the whole adversarial phase, ran after the restart
    for step in rows_a:
        for key in KEYS:
            if key in rows_a[step]:
                assert float(rows_b[step][key]) == pytest.approx(float(rows_a[step][key]),
                                                                 rel=1e-6, abs=1e-9), (step, key)
