"""SLURM accounting and control through its command-line tools: sacct, scontrol, sacctmgr, scancel.

`sacct -P --duplicates` is the source of truth for what happened to a job: a requeued job keeps
its id, and only `--duplicates` shows its earlier runs (the restart count). Efficiency is
computed from the same rows the way `seff` does (seff is not packaged everywhere, Debian 12
included): CPU time used against elapsed x allocated CPUs, peak RSS against requested memory.
Commands get argument lists, never a shell string.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ravejobs.durations import format_duration

FIELDS = (
    "JobID", "JobIDRaw", "State", "ExitCode", "Elapsed", "TotalCPU", "AllocCPUS", "MaxRSS",
    "ReqMem", "ReqTRES", "AllocTRES", "NodeList", "Start", "End",
)
# States after which a job (or array task) will not run again by itself.
FINAL_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
    "DEADLINE", "BOOT_FAIL",
})
_CHUNK = 200  # job ids per sacct call: keeps the command line short on big sweeps


class SlurmError(RuntimeError):
    """A SLURM command failed; the message holds the command and its stderr."""


@dataclass(frozen=True)
class JobRecord:
    """One job or array task as sacct reports it, all of its runs (requeues) folded in.

    state, exit_code, node and elapsed_s describe the latest run; total_cpu_s, wall_s and
    max_rss_bytes add up (or take the peak over) every run, so efficiency covers the whole job.
    """

    job_id: str                 # "123_4" for an array task, "123" otherwise
    state: str                  # first word of sacct's State: COMPLETED, RUNNING, PENDING, ...
    exit_code: str              # "0:0" = exit status:signal
    elapsed_s: float            # latest run
    wall_s: float               # all runs
    total_cpu_s: float          # all runs
    alloc_cpus: int
    max_rss_bytes: int | None   # peak over steps and runs; None until a step reported it
    req_mem_bytes: int | None   # memory requested for the job (per node), None when unknown
    req_tres: str
    alloc_tres: str
    node: str
    restarts: int               # how many times it was requeued
    raw_id: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def gpus(self) -> int:
        """GPUs allocated (or requested, before allocation): the `gres/gpu` count of the TRES."""
        for tres in (self.alloc_tres, self.req_tres):
            found = re.search(r"gres/gpu(?::[^=,]+)?=(\d+)", tres)
            if found:
                return int(found.group(1))
        return 0

    @property
    def gpu_type(self) -> str | None:
        found = re.search(r"gres/gpu:([^=,]+)=", self.alloc_tres or self.req_tres)
        return found.group(1) if found else None

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.wall_s / 3600.0


@dataclass(frozen=True)
class Efficiency:
    """What `seff` prints, as numbers. Percentages are None when a side is unknown or zero."""

    cpu_used_s: float
    core_walltime_s: float
    cpu_pct: float | None
    mem_used_bytes: int | None
    mem_requested_bytes: int | None
    mem_pct: float | None

    def lines(self) -> list[str]:
        """seff's wording, so admins read it as they would read seff."""
        cpu_pct = "n/a" if self.cpu_pct is None else f"{self.cpu_pct:.2f}%"
        mem_pct = "n/a" if self.mem_pct is None else f"{self.mem_pct:.2f}%"
        return [
            f"CPU Utilized: {format_duration(self.cpu_used_s)}",
            f"CPU Efficiency: {cpu_pct} of {format_duration(self.core_walltime_s)} core-walltime",
            f"Memory Utilized: {format_bytes(self.mem_used_bytes)}",
            f"Memory Efficiency: {mem_pct} of {format_bytes(self.mem_requested_bytes)}",
        ]


# ----------------------------------------------------------------------------- parsing


def parse_duration(text: str) -> float:
    """sacct's `[D-]HH:MM:SS`, `MM:SS.mmm` or `HH:MM:SS.mmm` as seconds; 0 for blank/unknown."""
    text = text.strip()
    if not text or text in ("UNLIMITED", "Partition_Limit", "INVALID", "Unknown"):
        return 0.0
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [float(p) for p in text.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return days * 86400 + seconds


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_memory(text: str) -> int | None:
    """`94648K`, `500M`, `1.50G` (and old `4000Mc`/`4000Mn` ReqMem) as bytes; None when blank.

    Units are binary, as SLURM means them; a bare number is bytes for MaxRSS. A trailing `c`
    (per CPU) or `n` (per node) is dropped here; `sacct` reports per-node totals in 22.05+.
    """
    text = text.strip().rstrip("cn")
    if not text:
        return None
    found = re.fullmatch(r"([0-9.]+)([KMGTP]?)", text)
    if not found:
        return None
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def format_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def expand_array_ids(job_id: str) -> list[str]:
    """`6_[0-2,5%2]` (a pending array's remainder) -> ['6_0', '6_1', '6_2', '6_5']."""
    found = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not found:
        return [job_id]
    base, spec = found.group(1), found.group(2).split("%")[0]
    out: list[str] = []
    for part in spec.split(","):
        step = 1
        if ":" in part:
            part, step_text = part.split(":")
            step = int(step_text)
        lo, _, hi = part.partition("-")
        out.extend(f"{base}_{i}" for i in range(int(lo), int(hi or lo) + 1, step))
    return out


@dataclass
class _Run:
    """One run of a job (one allocation row) and its steps."""

    row: dict[str, str]
    cpu_s: float = 0.0
    max_rss: int | None = None


def parse_sacct(text: str) -> dict[str, JobRecord]:
    """Rows of `sacct -P -n --duplicates --format=<FIELDS>` -> one record per job or task."""
    runs: dict[str, list[_Run]] = {}
    order: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split("|")
        if len(values) < len(FIELDS):
            continue
        row = dict(zip(FIELDS, values, strict=False))
        job_id, _, step = row["JobID"].partition(".")
        if not step:
            if job_id not in runs:
                runs[job_id] = []
                order.append(job_id)
            runs[job_id].append(_Run(row=row, cpu_s=parse_duration(row["TotalCPU"])))
            continue
        if job_id not in runs or not runs[job_id]:
            continue
        run = runs[job_id][-1]
        rss = parse_memory(row["MaxRSS"])
        if rss is not None:
            run.max_rss = max(run.max_rss or 0, rss)

    records: dict[str, JobRecord] = {}
    for job_id in order:
        history = runs[job_id]
        last = history[-1].row
        rss_values = [r.max_rss for r in history if r.max_rss is not None]
        requeues = sum(1 for r in history[:-1] if r.row["State"].split()[0] in ("REQUEUED",
                                                                                "PREEMPTED"))
        restarts = max(requeues, len(history) - 1)
        record = JobRecord(
            job_id=job_id,
            raw_id=last["JobIDRaw"],
            state=(last["State"].split() or ["UNKNOWN"])[0].rstrip("+"),
            exit_code=last["ExitCode"],
            elapsed_s=parse_duration(last["Elapsed"]),
            wall_s=sum(parse_duration(r.row["Elapsed"]) for r in history),
            total_cpu_s=sum(r.cpu_s for r in history),
            alloc_cpus=int(last["AllocCPUS"] or 0),
            max_rss_bytes=max(rss_values) if rss_values else None,
            req_mem_bytes=parse_memory(last["ReqMem"]),
            req_tres=last["ReqTRES"],
            alloc_tres=last["AllocTRES"],
            node="" if last["NodeList"] in ("None assigned", "(null)") else last["NodeList"],
            restarts=restarts,
        )
        for task_id in expand_array_ids(job_id):
            records.setdefault(task_id, record if task_id == job_id else
                               _replace_id(record, task_id))
    return records


def _replace_id(record: JobRecord, job_id: str) -> JobRecord:
    from dataclasses import replace

    return replace(record, job_id=job_id)


def efficiency(record: JobRecord) -> Efficiency:
    """seff's arithmetic: CPU time / (wall time x allocated CPUs); peak RSS / requested memory."""
    core_wall = record.wall_s * max(record.alloc_cpus, 1)
    cpu_pct = 100.0 * record.total_cpu_s / core_wall if core_wall > 0 else None
    mem_pct = None
    if record.max_rss_bytes is not None and record.req_mem_bytes:
        mem_pct = 100.0 * record.max_rss_bytes / record.req_mem_bytes
    return Efficiency(
        cpu_used_s=record.total_cpu_s,
        core_walltime_s=core_wall,
        cpu_pct=cpu_pct,
        mem_used_bytes=record.max_rss_bytes,
        mem_requested_bytes=record.req_mem_bytes,
        mem_pct=mem_pct,
    )


# ----------------------------------------------------------------------------- commands


def _run(cmd: Sequence[str], timeout: float = 60.0) -> str:
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as err:
        raise SlurmError(f"{cmd[0]}: not found; is this a SLURM login node?") from err
    except subprocess.TimeoutExpired as err:
        raise SlurmError(f"{' '.join(cmd)}: no answer in {timeout:.0f} s") from err
    if done.returncode != 0:
        raise SlurmError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def slurm_available() -> bool:
    """A controller answers here (sinfo works), so jobs can be submitted and accounted."""
    if shutil.which("sinfo") is None:
        return False
    try:
        _run(["sinfo", "-h", "-o", "%P"], timeout=10)
    except SlurmError:
        return False
    return True


def sacct(job_ids: Iterable[str]) -> dict[str, JobRecord]:
    """Records of these jobs, array jobs (all their tasks) or array tasks (`123_4`).

    Keys are `<array>_<task>` for array tasks and the plain id otherwise; every task of each
    array asked about is returned. Ids neither sacct nor squeue know are absent. Raises
    SlurmError when sacct fails (no accounting storage).
    """
    ids = [str(j) for j in dict.fromkeys(job_ids) if str(j)]
    # Ask for whole arrays: a task still inside a pending (or cancelled-while-pending) array
    # has no row of its own, only the array's `123_[4-9%2]` remainder row.
    arrays = list(dict.fromkeys(i.split("_")[0] for i in ids))
    records: dict[str, JobRecord] = {}
    for start in range(0, len(arrays), _CHUNK):
        chunk = arrays[start:start + _CHUNK]
        out = _run(["sacct", "-P", "-n", "--duplicates", "-j", ",".join(chunk),
                    f"--format={','.join(FIELDS)}"])
        records.update(parse_sacct(out))
    for job_id in ids:
        array, _, task = job_id.partition("_")
        if task and job_id not in records and array in records:
            # an array cancelled while wholly pending keeps a single row, under the bare id
            records[job_id] = _replace_id(records[array], job_id)
    missing = [i for i in ids if not _covered(i, records)]
    if missing:
        # slurmctld hands new jobs to slurmdbd a few seconds late: a job submitted just now
        # is in the queue (squeue) before sacct knows it.
        queued = squeue()
        records.update({k: r for k, r in queued.items()
                        if any(k == i or k.startswith(f"{i}_") for i in missing)})
    return records


def _covered(job_id: str, records: dict[str, JobRecord]) -> bool:
    return job_id in records or any(k.startswith(f"{job_id}_") for k in records)


def squeue() -> dict[str, JobRecord]:
    """This user's queued and running jobs from the controller, one record per array task."""
    user = os.environ.get("USER") or getpass.getuser()
    try:
        out = _run(["squeue", "-h", "-r", "-u", user, "-o", "%i|%A|%T|%N|%C|%M"], timeout=20)
    except SlurmError:
        return {}
    records: dict[str, JobRecord] = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 6:
            continue
        job_id, raw, state, node, cpus, elapsed = parts[:6]
        seconds = parse_duration(elapsed) if ":" in elapsed else 0.0
        records[job_id] = JobRecord(
            job_id=job_id, raw_id=raw, state=state, exit_code="", elapsed_s=seconds,
            wall_s=seconds, total_cpu_s=0.0, alloc_cpus=int(cpus) if cpus.isdigit() else 0,
            max_rss_bytes=None, req_mem_bytes=None, req_tres="", alloc_tres="", node=node,
            restarts=0,
        )
    return records


def show_config() -> dict[str, str]:
    """`scontrol show config` as a mapping of setting -> value."""
    config: dict[str, str] = {}
    for line in _run(["scontrol", "show", "config"]).splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            config[key.strip()] = value.strip()
    return config


def _limit(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def cluster_limits() -> tuple[int | None, int | None]:
    """(MaxArraySize, MaxSubmit) as this cluster enforces them for this user.

    MaxArraySize comes from `scontrol show config` (an array may hold indices 0 to
    MaxArraySize-1). MaxSubmit is not a controller setting but an accounting limit: the
    smallest of the user's associations' MaxSubmitJobs and their QOS's MaxSubmitJobsPerUser;
    None when none is set or sacctmgr cannot be asked.
    """
    max_array = _limit(show_config().get("MaxArraySize"))
    user = os.environ.get("USER") or getpass.getuser()
    limits: list[int] = []
    try:
        assoc = _run(["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={user}",
                      "format=MaxSubmit,QOS"], timeout=20)
        qos_names: set[str] = set()
        for line in assoc.splitlines():
            max_submit, _, qos = line.partition("|")
            if _limit(max_submit):
                limits.append(int(max_submit))
            qos_names.update(q for q in qos.split(",") if q)
        if qos_names:
            qos = _run(["sacctmgr", "-n", "-P", "show", "qos", "format=Name,MaxSubmitPU"],
                       timeout=20)
            for line in qos.splitlines():
                name, _, per_user = line.partition("|")
                if name in qos_names and _limit(per_user):
                    limits.append(int(per_user))
    except SlurmError:
        pass
    return max_array, (min(limits) if limits else None)


def cancel(job_ids: Iterable[str]) -> list[str]:
    """scancel these jobs or array tasks; returns the ids passed to scancel."""
    ids = [str(j) for j in dict.fromkeys(job_ids) if str(j)]
    for start in range(0, len(ids), _CHUNK):
        _run(["scancel", *ids[start:start + _CHUNK]])
    return ids


def requeue(job_ids: Iterable[str]) -> None:
    """scontrol requeue: stop these jobs and put them back in the queue under the same id."""
    ids = [str(j) for j in job_ids if str(j)]
    if ids:
        _run(["scontrol", "requeue", ",".join(ids)])


def step_usage(job_id: str) -> tuple[float, int | None]:
    """(CPU seconds, peak RSS bytes) of a running job's steps so far, from `sstat`.

    sacct only fills TotalCPU and MaxRSS when a step ends, so a job describing itself (its
    log footer) asks sstat, which samples every JobAcctGatherFrequency seconds.
    """
    out = _run(["sstat", "-n", "-P", "-a", "-j", str(job_id),
                "--format=JobID,TRESUsageInTot,MaxRSS"], timeout=20)
    cpu_s, rss = 0.0, None
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) < 3:
            continue
        tres = dict(item.partition("=")[::2] for item in parts[1].split(",") if "=" in item)
        cpu_s += parse_duration(tres.get("cpu", ""))
        step_rss = parse_memory(parts[2])
        if step_rss is not None:
            rss = max(rss or 0, step_rss)
    return cpu_s, rss
