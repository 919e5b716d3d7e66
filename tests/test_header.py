"""The admin header and footer with real RunSpecs composed from conf/ (no SLURM needed)."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from compose import compose_spec

from ravejobs.jobs import header
from ravejobs.rundir import RunDir

SLURM_VARS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT",
              "SLURM_JOB_NODELIST", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES",
              "SLURM_JOB_ACCOUNT", "SLURM_JOB_PARTITION", "SLURM_CPUS_ON_NODE",
              "SLURM_MEM_PER_NODE", "SLURM_ARRAY_TASK_COUNT", "SLURM_JOB_USER")


@pytest.fixture
def root(tmp_path, monkeypatch):
    root = tmp_path / "project space $HOME 'q'"
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    for name in SLURM_VARS:
        monkeypatch.delenv(name, raising=False)
    return root


def _run(overrides: list[str], stage: str = "train", reason: str | None = None):
    spec = compose_spec(overrides)
    if reason is not None:  # newlines cannot pass through a Hydra override; a config file can
        spec = replace(spec, reason=reason)
    run = RunDir.for_spec(spec, stage)
    run.create(spec)
    return spec, run


def test_header_names_run_resources_and_reason(root, capsys):
    spec, run = _run(["dataset=as", "cluster=narval", "cluster.account=def-lab", "dry_run=true"],
                     reason="compare warmups\nfor the paper")
    header.print_header(spec, run)
    text = capsys.readouterr().out
    assert f"run        {run.name}  signature {run.signature}  stage train" in text
    assert str(run.path) in text
    assert "account def-lab" in text and "cluster narval" in text
    assert "GPUs 1 x a100 (--gpus-per-node=a100:1)" in text
    assert "CPUs 12; memory 124 GB; time 2-00:00:00" in text
    assert f"budget {spec.phase.max_steps} steps" in text
    assert "reason     compare warmups for the paper" in text
    assert "not under SLURM" in text


@pytest.mark.parametrize("stage", ["prepare", "export"])
def test_header_states_what_sbatch_was_asked_for_cpu_stages(root, capsys, stage):
    """Issue 13 bug 3: prepare and export ask sbatch for less than the cluster's full share;
    the header must print that request (the one in their sbatch script), not the cluster's."""
    from ravejobs.submit import stage_resources

    spec, run = _run(["dataset=as", "cluster=narval", "cluster.account=def-lab",
                      "dry_run=true"], stage=stage)
    header.print_header(spec, run)
    text = capsys.readouterr().out
    cpus, mem, minutes = stage_resources(stage, spec.cluster)
    assert (mem, minutes) != (spec.cluster.mem_gb, spec.cluster.time_min)
    line = next(x for x in text.splitlines() if x.startswith("requested"))
    clock = f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    assert f"GPUs none; CPUs {cpus}; memory {mem:g} GB; time {clock}" in line, line
    assert "120 GB" not in line and "2-00:00:00" not in line


def test_header_memory_is_what_sbatch_asks_per_node_with_several_gpus(root, capsys):
    """One task per GPU: sbatch asks memory per task x tasks; the header says the same."""
    from ravejobs.plan import make_plan
    from ravejobs.submit import executor_parameters

    spec, run = _run(["dataset=as", "cluster=narval", "cluster.account=def-lab",
                      "cluster.gpus_per_node=4", "dry_run=true"])
    header.print_header(spec, run)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("requested"))
    array = make_plan([spec]).by_stage("train")[0]
    asked = executor_parameters(array, spec.cluster, "sweep-x", provenance=("c", "cmd"))["mem"]
    assert f"memory {asked.removesuffix('G')} GB" in line and "4 tasks x" in line, (line, asked)


def test_header_on_a_node_shows_allocation_job_and_restart(root, capsys, monkeypatch):
    spec, run = _run(["dataset=demo", "cluster=testslurm"])
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4240")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "3")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "ng10304")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("SLURM_JOB_GPUS", "2,3")
    header.print_header(spec, run)
    text = capsys.readouterr().out
    assert "job        4240_2 (SLURM_JOB_ID 4242), restart 3, array task 2" in text
    assert "node ng10304; CUDA_VISIBLE_DEVICES=0,1; SLURM_JOB_GPUS=2,3" in text


def test_a_restart_on_other_code_is_flagged(root, capsys, monkeypatch):
    spec, run = _run(["dataset=demo"])
    monkeypatch.setattr(header, "git_revision", lambda path=None: "aaaa11112222 (clean)")
    header.print_header(spec, run)
    header.print_header(spec, run)   # a requeue on the same code: nothing to say
    assert "WARNING" not in capsys.readouterr().out
    assert run.state().code == "aaaa11112222 (clean)"
    changed = "bbbb33334444 (dirty: 2 files changed)"
    monkeypatch.setattr(header, "git_revision", lambda path=None: changed)
    header.print_header(spec, run)
    out = capsys.readouterr().out
    assert "code changed since this run's previous start (was git aaaa11112222 (clean))" in out
    assert "ravejobs git bbbb33334444 (dirty: 2 files changed)" in out
    assert run.state().code.startswith("bbbb33334444")


def test_reproduce_commands_survive_the_shell(root):
    spec, run = _run(["dataset=demo", "cluster=testslurm", "seed=3"])
    relaunch, by_hand = header.reproduce_commands(spec, run)
    words = shlex.split(relaunch)
    assert f"RAVEJOBS_ROOT={root}" in words
    assert words[words.index("launch.py") + 1:] == [
        "dataset=demo", "seed=3", "stage=train", "cluster=testslurm"]
    # The by-hand command, run through a real shell, hands python the exact folder.
    echoed = subprocess.run(["bash", "-c", by_hand.replace("python -m", "echo", 1)],
                            capture_output=True, text=True, check=True).stdout
    assert echoed.strip().split(" ", 2) == ["ravejobs.jobs.runner", "train", str(run.path)]


def test_git_revision_clean_dirty_and_absent(tmp_path):
    repo = tmp_path / "src"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    commit = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert header.git_revision(repo) == f"{commit} (clean)"
    (repo / "a.py").write_text("x = 2\n")
    assert header.git_revision(repo) == f"{commit} (dirty: 1 files changed)"
    assert header.git_revision(tmp_path / "nowhere").startswith("not a git checkout")


def test_footer_counts_gpu_hours_and_rgu(root):
    spec, run = _run(["dataset=as", "cluster=narval", "cluster.account=def-lab", "dry_run=true",
                      "cluster.gpus_per_node=2"])
    lines = header.footer_lines(run, "requeued at time limit", 1234, elapsed_s=5400.0)
    text = "\n".join(lines)
    assert "exit       requeued at time limit" in text
    assert f"steps      1234 of {spec.phase.max_steps}" in text
    # 2 GPUs x 1.5 h = 3 GPU-hours; Narval's A100 is 4.0 RGU per GPU-hour.
    assert "2 GPU x 01:30:00 = 3.0000 x 4 RGU per a100 GPU-hour = 12.0000 RGU-hours" in text


def test_footer_without_rate_says_so_and_print_never_raises(root, capsys):
    spec, run = _run(["dataset=demo", "cluster=local"])
    assert header.rgu_rate(spec) == ("gpu", None)
    header.print_header(spec, run)
    header.print_footer(run, "failed: ValueError: bad corpus", 7)
    text = capsys.readouterr().out
    footer = text.split("ravejobs job end", 1)[1]
    assert "exit       failed: ValueError: bad corpus" in footer
    assert "no RGU rate for gpu in cluster local" in footer
    assert re.search(r"elapsed    00:00:0\d this run", footer)
    Path(run.path / "spec.json").unlink()  # a broken run folder: the footer still prints
    header.print_footer(run, "finished", 9)
    assert "footer incomplete" in capsys.readouterr().out


def test_header_warns_of_scratch_on_trillium_and_names_every_rank(root, capsys, monkeypatch):
    spec, run = _run(["dataset=as", "cluster=trillium", "cluster.nodes=2",
                      "cluster.account=def-lab", "storage=scratch", "dry_run=true"])
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_NNODES", "2")
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", "4(x2)")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "tri[0001-0002]")
    monkeypatch.setenv("SLURM_GPUS_ON_NODE", "4")
    header.print_header(spec, run)
    text = capsys.readouterr().out
    assert "WARNING    runs and checkpoints are on scratch" in text
    assert "ranks      8 processes (2 node(s) x 4, one per GPU) on tri[0001-0002]" in text
    assert "GPUs 8 x h100 (--gpus-per-node=h100:4, 2 nodes, one rank per GPU)" in text


def test_efficiency_takes_the_memory_request_from_the_job_when_sacct_lags(monkeypatch):
    """Right after a job starts, sacct may list it without its requested memory (slurmdbd not
    told yet); the footer's memory efficiency then comes from SLURM_MEM_PER_NODE, not 'n/a'."""
    from ravejobs import sacct_records, slurm
    from ravejobs.jobs import header

    record = sacct_records.JobRecord(
        job_id="77", state="RUNNING", exit_code="", elapsed_s=10.0, wall_s=10.0,
        total_cpu_s=0.0, alloc_cpus=2, max_rss_bytes=None, req_mem_bytes=None, req_tres="",
        alloc_tres="", node="localnode", restarts=0)
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "1024")
    monkeypatch.setattr(slurm, "sacct", lambda ids: {"77": record})
    monkeypatch.setattr(slurm, "step_usage", lambda raw: (5.0, 512 * 2**20))
    lines = "\n".join(header.efficiency_lines(10.0))
    assert "Memory Efficiency: 50.00% of 1.00 GB" in lines, lines
