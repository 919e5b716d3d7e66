"""A real job on the test cluster prints the admin header and footer (efficiency from SLURM)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from compose import compose_spec

from ravejobs.rundir import RunDir

pytestmark = pytest.mark.slurm

JOB = """
import os, sys, time
from ravejobs import slurm
from ravejobs.jobs.header import print_footer, print_header
from ravejobs.rundir import RunDir

run = RunDir.open(sys.argv[1])
print_header(run.spec(), run)
held = bytearray(150_000_000)  # peak memory the footer must see
start = time.time()
while time.time() - start < 3:  # busy: CPU time the footer must see
    pass
# sstat samples every few seconds: wait (on its figures, at most a minute) until it has seen
# the memory and the busy loop, so the footer has something definite to report.
deadline = time.time() + 60
while time.time() < deadline:
    cpu, rss = slurm.step_usage(os.environ["SLURM_JOB_ID"])
    if rss and rss >= 150_000_000 and cpu >= 2.0:
        break
    time.sleep(0.5)
print(f"sstat before cpu {cpu:.3f} rss {rss}", flush=True)
print_footer(run, "finished", 100)
cpu, rss = slurm.step_usage(os.environ["SLURM_JOB_ID"])
print(f"sstat after cpu {cpu:.3f} rss {rss}", flush=True)
"""


def _seconds(clock: str) -> int:
    h, m, sec = (int(x) for x in clock.split(":"))
    return h * 3600 + m * 60 + sec


def test_real_job_log_has_header_and_footer(slurm_cluster, sbatch, wait_final, tmp_path,
                                            monkeypatch):
    root = tmp_path / "project $pace"
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    spec = compose_spec(["dataset=demo", "cluster=testslurm", "cluster.gpus_per_node=1",
                         "cluster.cpus_per_task=2"])
    run = RunDir.for_spec(spec, "train")
    run.create(spec)
    job_py = tmp_path / "job.py"
    job_py.write_text(JOB)
    batch = tmp_path / "job.sh"
    batch.write_text(f'#!/bin/bash\nsrun "{sys.executable}" "$1" "$2"\n')
    log = run.logs / "%j.out"
    job = sbatch("--gpus-per-node=1", "-c", "2", "--mem=1G", "-J", run.name, "-o", str(log),
                 str(batch), str(job_py), str(run.path))
    record = wait_final([job], expect=1, timeout=180)[job]
    text = (run.logs / f"{job}.out").read_text()
    assert record.state == "COMPLETED", text

    head, foot = text.split("ravejobs job end")
    assert f"run        {run.name}  signature {run.signature}  stage train" in head
    assert f"job        {job} (SLURM_JOB_ID {job}), restart 0" in head
    assert re.search(r"node localnode; CUDA_VISIBLE_DEVICES=\d; SLURM_JOB_GPUS=\d; CPUs 2", head)
    assert "requested  GPUs 1 x gpu (untyped) (--gpus-per-node=1); CPUs 2; memory 2 GB" in head

    assert "exit       finished" in foot and "steps      100 of 100" in foot
    # The footer reports what sstat saw when it was printed: between the job's own sstat
    # readings just before and just after it.
    before = re.search(r"sstat before cpu ([\d.]+) rss (\d+)", head)
    after = re.search(r"sstat after cpu ([\d.]+) rss (\d+)", text)
    assert before and after, text
    used = _seconds(re.search(r"CPU Utilized: (\S+)", foot).group(1))
    assert float(before.group(1)) - 1 <= used <= float(after.group(1)) + 1, foot
    mem = float(re.search(r"Memory Utilized: ([\d.]+) MB", foot).group(1))
    assert int(before.group(2)) / 2**20 - 1 <= mem <= int(after.group(2)) / 2**20 + 1, foot  # MiB
    assert "Memory Efficiency: " in foot and "of 1.00 GB" in foot
    # Core-walltime: 2 CPUs for the run so far, within what sacct counts for the whole job.
    cpu = re.search(r"CPU Efficiency: ([\d.]+)% of (\S+) core-walltime", foot)
    core_wall = _seconds(cpu.group(2))
    sacct = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job, "--format=CPUTimeRAW"],
                           capture_output=True, text=True, timeout=30, check=True)
    assert 2 * 3 <= core_wall <= int(sacct.stdout.split()[0]) + 2, (foot, sacct.stdout)
    assert 0 < float(cpu.group(1)) <= 100
    clock = re.search(r"elapsed    (\S+) this run", foot).group(1)
    gpu = re.search(r"GPU-hours  1 GPU x (\S+) = ([\d.]+) x 1 RGU per gpu GPU-hour", foot)
    assert gpu and gpu.group(1) == clock and 3 <= _seconds(clock) <= core_wall / 2 + 1, foot
