"""The test cluster itself and ravejobs.slurm against it: arrays, aftercorr, requeue, efficiency.

Trivial bash/python batch scripts only, so these say nothing about training and run in ~40 s.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from ravejobs import sacct_records, slurm

pytestmark = pytest.mark.slurm
TESTCLUSTER = Path(__file__).resolve().parents[1] / "slurm" / "testcluster"


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\nset -eu\n" + body)
    path.chmod(0o755)
    return path


def test_start_is_idempotent(slurm_cluster):
    """start.sh on a running cluster changes nothing. (The cluster is shared by everything that
    runs on this machine, so no test stops or restarts it; stop.sh is not tested here.)"""
    again = subprocess.run(["bash", str(TESTCLUSTER / "start.sh")], capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stdout and "starting slurmctld" not in again.stdout
    assert slurm.slurm_available()


def test_start_refuses_without_root_and_says_why(slurm_cluster):
    done = subprocess.run(["runuser", "-u", "nobody", "--", "bash", str(TESTCLUSTER / "start.sh")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "must run as root" in done.stderr and "nobody" in done.stderr


def test_cluster_limits_read_from_scontrol_and_sacctmgr(slurm_cluster):
    max_array, max_submit = slurm.cluster_limits()
    conf = (TESTCLUSTER / "slurm.conf").read_text()
    assert max_array == int(re.search(r"^MaxArraySize=(\d+)", conf, re.M).group(1))
    assert max_submit is None  # the test cluster sets no MaxSubmitJobs
    user = os.environ.get("USER") or getpass.getuser()
    sacctmgr = ["sacctmgr", "-i", "modify", "user", user, "set"]
    qos = ["sacctmgr", "-i", "modify", "qos", "normal", "set"]
    subprocess.run([*sacctmgr, "MaxSubmitJobs=4321"], check=True, capture_output=True)
    try:
        assert slurm.cluster_limits() == (max_array, 4321)
        # The user's QOS limit counts too: the smaller one wins.
        subprocess.run([*qos, "MaxSubmitJobsPerUser=3210"], check=True, capture_output=True)
        assert slurm.cluster_limits() == (max_array, 3210)
    finally:
        subprocess.run([*sacctmgr, "MaxSubmitJobs=-1"], check=True, capture_output=True)
        subprocess.run([*qos, "MaxSubmitJobsPerUser=-1"], check=True, capture_output=True)
    assert slurm.cluster_limits() == (max_array, None)


def test_array_with_parallelism_lands_in_sacct(slurm_cluster, sbatch, wait_final, tmp_path):
    out = tmp_path / "logs with space"
    out.mkdir()
    script = _script(tmp_path / "task.sh",
                     'echo "task $SLURM_ARRAY_TASK_ID gpus=${CUDA_VISIBLE_DEVICES:-}"\n'
                     'python3 -c "print(2 + 2)"\n')
    job = sbatch("--array=0-3%2", "--gres=gpu:1", "--mem=200M", "-o", f"{out}/%A_%a.out",
                 str(script))
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    assert "ArrayTaskThrottle=2" in shown
    records = wait_final([job], expect=4)
    assert sorted(records) == [f"{job}_{i}" for i in range(4)]
    for i in range(4):
        r = records[f"{job}_{i}"]
        assert (r.state, r.exit_code, r.restarts) == ("COMPLETED", "0:0", 0)
        assert r.node == slurm_cluster and r.gpus == 1
        assert r.req_mem_bytes == 200 * 1024**2
        log = (out / f"{job}_{i}.out").read_text()
        assert log.startswith(f"task {i} gpus=") and "4" in log


def test_aftercorr_failed_task_cancels_only_its_partner(slurm_cluster, sbatch, wait_final,
                                                        tmp_path):
    first = _script(tmp_path / "first.sh", '[ "$SLURM_ARRAY_TASK_ID" != 1 ] || exit 3\n')
    second = _script(tmp_path / "second.sh", "true\n")
    a = sbatch("--array=0-2", "-o", "/dev/null", str(first))
    b = sbatch("--array=0-2", "-o", "/dev/null", f"--dependency=aftercorr:{a}",
               "--kill-on-invalid-dep=yes", str(second))
    records = wait_final([a, b], expect=6)
    states = {k: r.state for k, r in records.items()}
    assert states == {
        f"{a}_0": "COMPLETED", f"{a}_1": "FAILED", f"{a}_2": "COMPLETED",
        f"{b}_0": "COMPLETED", f"{b}_1": "CANCELLED", f"{b}_2": "COMPLETED",
    }
    assert records[f"{a}_1"].exit_code == "3:0"


def _sacct_seconds(text: str) -> float:
    """sacct's [D-][HH:]MM:SS[.mmm] as seconds (read here, not with ravejobs.slurm)."""
    days, _, clock = text.rpartition("-")
    parts = [float(x) for x in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return int(days or 0) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def _sacct_own_figures(job: str) -> tuple[float, float, int]:
    """(TotalCPU s, CPUTimeRAW s, peak MaxRSS bytes) over every run of `job`, as sacct says."""
    rows = subprocess.run(["sacct", "-n", "-P", "--duplicates", "-j", job,
                           "--format=JobID,TotalCPU,CPUTimeRAW,MaxRSS"], capture_output=True,
                          text=True, timeout=30, check=True).stdout.splitlines()
    cpu = core_wall = 0.0
    rss = 0
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    for row in filter(None, rows):
        job_id, total_cpu, cpu_time_raw, max_rss = row.split("|")
        if "." not in job_id:   # the allocation line of one run
            cpu += _sacct_seconds(total_cpu)
            core_wall += float(cpu_time_raw)
        elif max_rss:
            rss = max(rss, int(float(max_rss[:-1]) * units[max_rss[-1]]) if max_rss[-1] in units
                      else int(max_rss))
    return cpu, core_wall, rss


def test_requeue_keeps_job_id_counts_restarts_and_efficiency(slurm_cluster, sbatch, wait_final,
                                                             tmp_path):
    seen = tmp_path / "restarts.txt"
    cpu_file = tmp_path / "cpu.txt"
    # First run: say it started, then wait to be requeued. Second run: hold 120 MB and burn
    # CPU for 3 s, noting the CPU time the process got, then finish.
    script = _script(tmp_path / "requeue.sh", f"""
echo "${{SLURM_JOB_ID}} ${{SLURM_RESTART_COUNT:-0}}" >> "{seen}"
if [ "${{SLURM_RESTART_COUNT:-0}}" = 0 ]; then
  sleep 300
fi
python3 -c "
import time
x = bytearray(120_000_000)
t = time.time()
while time.time() - t < 3: pass
open('{cpu_file}', 'w').write(str(time.process_time()))
"
""")
    job = sbatch("--requeue", "--mem=1G", "-c", "1", "-o", "/dev/null", str(script))
    deadline = time.monotonic() + 60
    while not (seen.exists() and seen.read_text()):   # the first run is running
        assert time.monotonic() < deadline, slurm.sacct([job])
        time.sleep(0.2)
    slurm.requeue([job])
    record = wait_final([job], expect=1, timeout=120)[job]
    assert record.state == "COMPLETED"
    assert record.restarts == 1
    assert seen.read_text().split("\n")[:2] == [f"{job} 0", f"{job} 1"]
    # Efficiency as seff computes it, from sacct's own figures over both runs.
    eff = sacct_records.efficiency(record)
    total_cpu, cpu_time_raw, max_rss = _sacct_own_figures(job)
    assert eff.cpu_used_s == pytest.approx(total_cpu, abs=0.01)
    assert eff.core_walltime_s == pytest.approx(cpu_time_raw, abs=0.01)
    assert eff.cpu_pct == pytest.approx(100 * total_cpu / cpu_time_raw, abs=0.01)
    assert eff.mem_used_bytes == (max_rss or None)
    assert eff.mem_requested_bytes == 1024**3
    # TotalCPU of a finished step comes from the kernel (not sampled): it holds the busy loop.
    assert eff.cpu_used_s >= float(cpu_file.read_text()) - 0.05, eff
    lines = eff.lines()
    assert lines[1].startswith("CPU Efficiency: ") and "core-walltime" in lines[1]


def test_just_submitted_array_is_seen_pending_then_cancelled(slurm_cluster, sbatch, wait_final,
                                                              tmp_path):
    script = _script(tmp_path / "long.sh", "sleep 300\n")
    job = sbatch("--array=0-1", "--begin=now+1hour", "-o", "/dev/null", str(script))
    # At once, before slurmdbd has the job: the launcher must still see it as queued.
    seen = slurm.sacct([f"{job}_0", f"{job}_1"])
    assert {k: r.state for k, r in seen.items()} == {f"{job}_0": "PENDING", f"{job}_1": "PENDING"}
    assert slurm.cancel([job]) == [job]
    records = wait_final([job], expect=1, timeout=30)
    assert {r.state for r in records.values()} == {"CANCELLED"}
