"""SLURM accounting and control through its command-line tools: sacct, squeue, scontrol,
sacctmgr, scancel, sstat. The only code that runs them; their output is parsed in
`sacct_records.py` (job records, durations, memory, seff's efficiency). Commands get argument
lists, never a shell string.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence

from ravejobs.sacct_records import (
    FIELDS,
    JobRecord,
    parse_duration,
    parse_memory,
    parse_sacct,
    with_id,
)


class SlurmError(RuntimeError):
    """A SLURM command failed; the message holds the command and its stderr."""


_CHUNK = 200  # job ids per sacct call: keeps the command line short on big sweeps


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
            records[job_id] = with_id(records[array], job_id)
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
