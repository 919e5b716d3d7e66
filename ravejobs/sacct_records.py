"""What sacct says, parsed: one record per job or array task, and seff's efficiency arithmetic.

Pure text to values (no command runs here; `slurm.py` runs sacct and hands its rows over), so
status, the footer and the tests read accounting without a scheduler. `sacct -P --duplicates`
is the source of truth for what happened to a job: a requeued job keeps its id, and only
`--duplicates` shows its earlier runs (the restart count). Efficiency is computed from the same
rows the way `seff` does (seff is not packaged everywhere, Debian 12 included): CPU time used
against elapsed x allocated CPUs, peak RSS against requested memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

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
                               with_id(record, task_id))
    return records


def with_id(record: JobRecord, job_id: str) -> JobRecord:
    """The same record under another id (an array task of a record sacct gave once)."""
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
