"""A real job on the test cluster prints the admin header and footer (efficiency from SLURM)."""

from __future__ import annotations

import re
import sys

import pytest
from compose import compose_spec

from ravejobs.rundir import RunDir

pytestmark = pytest.mark.slurm

JOB = """
import sys, time
from ravejobs.jobs.header import print_footer, print_header
from ravejobs.rundir import RunDir

run = RunDir.open(sys.argv[1])
print_header(run.spec(), run)
held = bytearray(150_000_000)  # peak memory the footer must see
start = time.time()
while time.time() - start < 7:  # busy: CPU time the footer must see (two 5 s samples)
    pass
print(f"process cpu {time.process_time():.3f}")
print_footer(run, "finished", 100)
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
    record = wait_final([job], expect=1, timeout=60)[job]
    text = (run.logs / f"{job}.out").read_text()
    assert record.state == "COMPLETED", text

    head, foot = text.split("ravejobs job end")
    assert f"run        {run.name}  signature {run.signature}  stage train" in head
    assert f"job        {job} (SLURM_JOB_ID {job}), restart 0" in head
    assert re.search(r"node localnode; CUDA_VISIBLE_DEVICES=\d; SLURM_JOB_GPUS=\d; CPUs 2", head)
    assert "requested  GPUs 1 x gpu (untyped) (--gpus-per-node=1); CPUs 2; memory 2 GB" in head

    assert "exit       finished" in foot and "steps      100 of 100" in foot
    # sstat samples every 5 s: the footer sees up to what the job's processes used, never
    # more; how much they got depends on how busy the machine is.
    process_cpu = float(re.search(r"process cpu ([\d.]+)", head).group(1))
    used = _seconds(re.search(r"CPU Utilized: (\S+)", foot).group(1))
    cpu = re.search(r"CPU Efficiency: ([\d.]+)% of (\S+) core-walltime", foot)
    core_wall = _seconds(cpu.group(2))
    assert 1 <= used <= process_cpu + 1.5, foot
    assert core_wall >= 2 * 7, foot  # two allocated CPUs for at least the 7 s busy loop
    assert float(cpu.group(1)) == pytest.approx(100 * used / core_wall, abs=100 / core_wall)
    mem = re.search(r"Memory Utilized: ([\d.]+) MB", foot)
    assert mem and float(mem.group(1)) >= 140.0, foot
    assert "Memory Efficiency: " in foot and "of 1.00 GB" in foot
    assert re.search(r"GPU-hours  1 GPU x 00:00:0\d = 0\.00\d\d x 1 RGU per gpu GPU-hour", foot)
