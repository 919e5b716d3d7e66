"""The job log's header and footer: what a cluster admin needs to read a job without asking us.

The header says who runs what, for which account, asking for which resources and why, where it
landed (node, GPUs), which code (git commit, dirty or not) and how to run it again. The footer
says how it ended, how far it got, and what it cost: efficiency as `seff` reports it (CPU and
memory used against requested) and GPU-hours priced in RGU from the cluster profile.
"""

from __future__ import annotations

import getpass
import os
import resource
import shlex
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

from ravejobs import stages, walltime
from ravejobs.config import RunSpec
from ravejobs.durations import format_duration
from ravejobs.jobid import current_job_id
from ravejobs.provenance import git_revision, record, reproducible_overrides, versions_line
from ravejobs.ranks import global_rank, is_main_process, world_layout
from ravejobs.rundir import RunDir

RULE = "=" * 78
_started: float | None = None  # set by print_header: this process's start, for the footer


def _env(name: str, default: str = "-") -> str:
    return os.environ.get(name) or default


def _purpose(spec: RunSpec, stage: str) -> str:
    if stage == "train":
        return (f"train RAVE on {spec.dataset.name}: {spec.phase.warmup} VAE steps, then "
                f"{spec.phase.gan_steps} adversarial (budget {spec.phase.max_steps} steps, "
                f"model {spec.model.name})")
    if stage == "prior":
        return (f"train the latent prior of the RAVE trained on {spec.dataset.name} "
                f"({spec.prior.max_steps} steps)")
    if stage == "prepare":
        return (f"prepare corpus {spec.dataset.name}: decode, resample, pack into one file "
                "(CPU only)")
    return f"export the {spec.dataset.name} model as TorchScript for nn~ (CPU only)"


def _requested(spec: RunSpec, stage: str) -> str:
    """What sbatch was asked for: the stage's own request (stages.py), not the cluster's."""
    c = spec.cluster
    row = stages.stage(stage)
    cpus, mem_gb, minutes = row.resources(c)
    tasks = row.layout(c)[1]  # as sbatch is asked: memory per task x tasks per node
    count = row.gpu_count(c)
    if count:
        kind = c.gpu_type or "gpu (untyped)"
        per_node = c.gpus_per_node if row.ranks else 1
        gpus = f"{count} x {kind} (--gpus-per-node={c.gpu_type + ':' if c.gpu_type else ''}" \
               f"{per_node}" + (f", {c.nodes} nodes, one rank per GPU" if count > 1 else "") + ")"
    else:
        gpus = "none"
    memory = f"memory {mem_gb * tasks:g} GB" if c.request_memory else "memory not requested"
    per = f"{tasks} tasks x " if tasks > 1 else ""
    return (f"GPUs {gpus}; CPUs {per}{cpus}; {memory}; "
            f"time {format_duration(minutes * 60)} (USR2 {c.signal_delay_s} s before the limit)")


def reproduce_commands(spec: RunSpec, run: RunDir) -> list[str]:
    """Shell lines (quoted) that run this again: the sweep point, and this stage by hand."""
    source = Path(__file__).resolve().parents[2]
    mine = ("stage", "cluster")
    kept = [o for o in spec.overrides if o.split("=", 1)[0].lstrip("+~") not in mine]
    kept = reproducible_overrides(kept, spec.dataset)  # nothing a fresh clone lacks
    point = [*kept, f"stage={run.stage}", f"cluster={spec.cluster.name}"]
    relaunch = (f"cd {shlex.quote(str(source))} && RAVEJOBS_ROOT={shlex.quote(spec.storage.root)} "
                f"python launch.py {' '.join(shlex.quote(o) for o in dict.fromkeys(point))}")
    by_hand = (f"python -m ravejobs.jobs.runner {shlex.quote(run.stage)} "
               f"{shlex.quote(str(run.path))}")
    return [relaunch, by_hand]


def _ranks_line() -> list[str]:
    """Every node and rank of a multi-process job step (nothing for one process)."""
    nodes, tasks = world_layout()
    if nodes * tasks <= 1:
        return []
    return [f"ranks      {nodes * tasks} processes ({nodes} node(s) x {tasks}, one per GPU) on "
            f"{_env('SLURM_STEP_NODELIST', _env('SLURM_JOB_NODELIST'))}; GPUs per node "
            f"{_env('SLURM_GPUS_ON_NODE')}; rank 0 writes the run's records"]


def _scratch_line(spec: RunSpec) -> list[str]:
    """A warning where the cluster's compute nodes can only write purged scratch (Trillium)."""
    if spec.storage.kind != "scratch":
        return []
    return [f"WARNING    runs and checkpoints are on scratch ({spec.storage.root}), which is "
            "purged and not backed up: copy finished runs to project space (docs/alliance.md)"]


def header_lines(spec: RunSpec, run: RunDir, code: str) -> list[str]:
    """The header as lines (without the rules); `code` is the git revision; pure apart from
    the environment."""
    c = spec.cluster
    job = current_job_id() if os.environ.get("SLURM_JOB_ID") else ""
    if job:
        where = (f"{job} (SLURM_JOB_ID {_env('SLURM_JOB_ID')}), "
                 f"restart {_env('SLURM_RESTART_COUNT', '0')}")
        if os.environ.get("SLURM_ARRAY_JOB_ID"):
            where += (f", array task {_env('SLURM_ARRAY_TASK_ID')} of "
                      f"{_env('SLURM_ARRAY_TASK_COUNT')} tasks")
        node = (f"{_env('SLURM_JOB_NODELIST', socket.gethostname())}; "
                f"CUDA_VISIBLE_DEVICES={_env('CUDA_VISIBLE_DEVICES')}; "
                f"SLURM_JOB_GPUS={_env('SLURM_JOB_GPUS')}; CPUs {_env('SLURM_CPUS_ON_NODE')}; "
                f"memory {_env('SLURM_MEM_PER_NODE')} MB")
    else:
        where = "not under SLURM (run by hand or by the local executor)"
        node = f"{socket.gethostname()}; CUDA_VISIBLE_DEVICES={_env('CUDA_VISIBLE_DEVICES')}"
    commands = reproduce_commands(spec, run)
    return [
        f"run        {run.name}  signature {run.signature}  stage {run.stage}",
        f"folder     {run.path}",
        f"why        {_purpose(spec, run.stage)}",
        f"reason     {' '.join(spec.reason.split()) or '-'}",
        f"user       {_env('SLURM_JOB_USER', os.environ.get('USER') or getpass.getuser())}  "
        f"account {_env('SLURM_JOB_ACCOUNT', c.account or '-')}  "
        f"partition {_env('SLURM_JOB_PARTITION', c.partition or '-')}  cluster {c.name}",
        f"requested  {_requested(spec, run.stage)}",
        f"allocated  node {node}",
        *_ranks_line(),
        *_scratch_line(spec),
        f"job        {where}",
        f"code       ravejobs git {code}; python {sys.version.split()[0]} "
        f"({sys.executable})",
        f"reproduce  {commands[0]}",
        f"by hand    {commands[1]}",
        f"started    {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
    ]


def print_header(spec: RunSpec, run: RunDir) -> None:
    """Print the admin header to the job log (stdout); remembers the start for the footer."""
    global _started
    _started = time.time()
    if not is_main_process():
        nodes, tasks = world_layout()
        print(f"ravejobs: rank {global_rank()} of {nodes * tasks} for run {run.name}; rank 0's "
              "log holds the header, the footer and the run's records", flush=True)
        return
    code = git_revision()
    lines = header_lines(spec, run, code)
    state = run.state()
    if state.code and state.code != code:
        # A requeued job imports whatever is checked out when it restarts: say so loudly.
        lines.append(f"WARNING    the code changed since this run's previous start "
                     f"(was git {state.code}); its steps so far ran on that code")
    lines.insert(-3, f"versions   {versions_line()}  (recorded in provenance.json)")
    record(run.path, code)
    run.write_state(replace(state, code=code, attempts=walltime.started(state.attempts, _started)))
    print("\n".join([RULE, "ravejobs job", *lines, RULE]), flush=True)


# ----------------------------------------------------------------------------- footer


def rgu_rate(spec: RunSpec) -> tuple[str, float | None]:
    """(GPU type, RGU per GPU-hour) from the cluster profile; None when the profile has none."""
    rates = dict(spec.cluster.rgu_per_gpu)
    kind = spec.cluster.gpu_type or "gpu"
    if kind in rates:
        return kind, float(rates[kind])
    if len(rates) == 1:
        (only, rate), = rates.items()
        return only, float(rate)
    return kind, None


def _allocated_gpus(spec: RunSpec, stage: str) -> int:
    """GPUs of the whole allocation: per node (as SLURM tells it) x nodes."""
    if os.environ.get("SLURM_JOB_ID"):
        nodes = int(os.environ.get("SLURM_JOB_NUM_NODES") or os.environ.get("SLURM_NNODES") or 1)
        for name in ("SLURM_GPUS_ON_NODE", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES"):
            value = os.environ.get(name, "")
            if value:
                per_node = int(value) if name == "SLURM_GPUS_ON_NODE" else len(value.split(","))
                return per_node * nodes
        return 0
    return stages.stage(stage).gpu_count(spec.cluster)


def efficiency_lines(elapsed_s: float) -> list[str]:
    """seff's lines for this job so far: earlier runs from sacct, this run from sstat.

    sacct fills TotalCPU and MaxRSS only when a step ends, and this step has not; so the running
    step's CPU time and peak memory come from sstat (sampled every few seconds) or, where that
    fails, from this process's own rusage.
    """
    from dataclasses import replace

    from ravejobs import sacct_records, slurm

    raw = os.environ.get("SLURM_JOB_ID", "")
    cpus = int(_env("SLURM_CPUS_ON_NODE", "1"))
    mem_mb = os.environ.get("SLURM_MEM_PER_NODE")
    source = "sacct + sstat"
    try:
        # An array task's raw id can equal its array's id, and sacct then lists every task.
        found = slurm.sacct([raw])
        record = found.get(current_job_id()) or next(
            (r for r in found.values() if r.raw_id == raw), None)
    except slurm.SlurmError as err:
        record, source = None, f"rusage (sacct failed: {err})"
    try:
        cpu_now, rss_now = slurm.step_usage(raw)
    except slurm.SlurmError:
        usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu_now = sum(u.ru_utime + u.ru_stime for u in usage)
        rss_now = max(u.ru_maxrss for u in usage) * 1024
        source = source.replace("sstat", "rusage")
    if record is None:
        record = sacct_records.JobRecord(
            job_id=current_job_id(), state="RUNNING", exit_code="", elapsed_s=elapsed_s, wall_s=0.0,
            total_cpu_s=0.0, alloc_cpus=cpus, max_rss_bytes=None,
            req_mem_bytes=None, req_tres="", alloc_tres="",
            node=_env("SLURM_JOB_NODELIST"), restarts=int(_env("SLURM_RESTART_COUNT", "0")),
        )
    # The latest run is still going: sacct's share of it is empty, so add what sstat saw.
    earlier_wall = record.wall_s - record.elapsed_s
    rss = max(v for v in (record.max_rss_bytes, rss_now, 0) if v is not None) or None
    # sacct can lag behind a job that just started (slurmdbd not yet told its request): the
    # job's own environment knows the memory it asked for
    requested = record.req_mem_bytes or (int(mem_mb) * 1024**2 if mem_mb else None)
    record = replace(record, wall_s=earlier_wall + elapsed_s,
                     total_cpu_s=record.total_cpu_s + cpu_now, max_rss_bytes=rss,
                     alloc_cpus=record.alloc_cpus or cpus, req_mem_bytes=requested)
    runs = record.restarts + 1
    lines = sacct_records.efficiency(record).lines()
    return [f"efficiency (seff arithmetic over {runs} run(s) of job {current_job_id()}; "
            f"source {source})", *("  " + line for line in lines)]


def footer_lines(run: RunDir, reason: str, steps: int, elapsed_s: float) -> list[str]:
    spec = run.spec()
    state = run.state()
    budget = state.max_steps or (spec.phase.max_steps if run.stage == "train" else 0)
    lines = [
        f"run        {run.name}  signature {run.signature}  stage {run.stage}",
        f"exit       {reason}",
        f"steps      {steps}" + (f" of {budget}" if budget else ""),
        f"elapsed    {format_duration(elapsed_s)} this run "
        f"(restart {_env('SLURM_RESTART_COUNT', '0')})",
    ]
    if os.environ.get("SLURM_JOB_ID"):
        lines += efficiency_lines(elapsed_s)
    else:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        lines.append(f"efficiency not under SLURM; this process used "
                     f"{format_duration(usage.ru_utime + usage.ru_stime)} CPU, "
                     f"peak {usage.ru_maxrss / 1024:.0f} MB")
    gpus = _allocated_gpus(spec, run.stage)
    kind, rate = rgu_rate(spec)
    gpu_hours = gpus * elapsed_s / 3600.0
    cost = (f" x {rate:g} RGU per {kind} GPU-hour = {gpu_hours * rate:.4f} RGU-hours"
            if rate is not None else f" (no RGU rate for {kind} in cluster {spec.cluster.name})")
    lines.append(f"GPU-hours  {gpus} GPU x {format_duration(elapsed_s)} = {gpu_hours:.4f}{cost} "
                 "(this run)")
    lines.append(f"ended      {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return lines


def print_footer(run: RunDir, reason: str, steps: int) -> None:
    """Print the admin footer: how it ended, how far, how efficient, what it cost.

    reason: "finished" | "requeued at time limit" | "failed: <why>". Never raises: a footer
    that cannot ask SLURM says so rather than hiding the job's real outcome.
    """
    if not is_main_process():
        return
    start = _started or run.state().started or time.time()
    elapsed = max(0.0, time.time() - start)
    try:
        lines = footer_lines(run, reason, steps, elapsed)
    except Exception as err:  # the footer must not turn a finished job into a failed one
        lines = [f"exit       {reason}", f"steps      {steps}",
                 f"(footer incomplete: {type(err).__name__}: {err})"]
    try:  # what status and report add up as the run's wall time (ravejobs.walltime)
        run.update_state(attempts=walltime.ended(run.state().attempts, start, elapsed))
    except Exception:  # a full disk: the footer still prints, and readers estimate
        pass
    print("\n".join([RULE, "ravejobs job end", *lines, RULE]), flush=True)
