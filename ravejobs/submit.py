"""Arrays -> submitit executors and sbatch scripts.

`executor_parameters` and `render_sbatch` are pure (golden-file tested); `submit_array` is the
one place that talks to submitit. The sbatch script opens with comment lines an admin can read:
who asked, for which account, why (the stage and the sweep's reason), what each task is.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from pathlib import Path
from typing import Any

from submitit.slurm.slurm import _make_sbatch_string

from ravejobs import stages
from ravejobs.config import ClusterSpec
from ravejobs.naming import run_name
from ravejobs.plan import ArrayJob
from ravejobs.validate_values import control_chars

WHY = {s.name: s.why for s in stages.TABLE}  # the stage table (ravejobs.stages)


def executor_parameters(
    array: ArrayJob,
    cluster: ClusterSpec,
    sweep: str,
    depends_on: str | None = None,
    provenance: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """submitit SlurmExecutor parameters for one array (`depends_on`: the array job id).

    `provenance` is (code revision, command line) for the header; by default this checkout's
    git revision and this process's command.
    """
    first = array.tasks[0].spec
    cpus, mem_gb, minutes = stage_resources(array.stage, cluster)
    nodes, tasks = stages.stage(array.stage).layout(cluster)
    params: dict[str, Any] = {
        "job_name": f"rj-{array.label}-{sweep.removeprefix('sweep-')}",
        "time": minutes,
        "nodes": nodes,
        "ntasks_per_node": tasks,
        "cpus_per_task": cpus,
        "signal_delay_s": cluster.signal_delay_s,
        "array_parallelism": cluster.array_parallelism,
        "stderr_to_stdout": True,
        "comment": f"ravejobs {sweep} {array.label}",
        "setup": header_lines(array, cluster, sweep, provenance or current_provenance())
        + list(cluster.setup),
        "additional_parameters": {"requeue": True},
    }
    if cluster.request_memory:
        params["mem"] = f"{mem_gb * tasks:g}G"
    gpus = stages.stage(array.stage).gpu_request(cluster)
    if gpus:
        params["gpus_per_node"] = gpus
    if cluster.account:
        params["account"] = cluster.account
    if cluster.partition:
        params["partition"] = cluster.partition
    if depends_on and array.dependency:
        params["additional_parameters"].update(
            {"dependency": f"{array.dependency}:{depends_on}", "kill-on-invalid-dep": "yes"}
        )
    if first.reason:
        params["comment"] += f": {first.reason}"
    params["comment"] = _one_line(params["comment"])
    return checked_parameters(params)


class UnsafeValue(ValueError):
    """A value that would break a line of the sbatch script (validation lets none through)."""


def checked_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Refuse any parameter that could start a line of its own in the sbatch text.

    `#SBATCH` values are quoted by submitit (shlex), so only a line break or another control
    character could escape them; header lines are comments built with `_one_line`; setup
    lines are shell by design (the cluster profile's), so each must be exactly one line.
    """
    def check(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for sub, item in value.items():
                check(f"{key}.{sub}", item)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                check(f"{key}[{i}]", item)
        elif control_chars(str(value)):
            raise UnsafeValue(f"sbatch {key}={value!r}: holds a line break or control character;"
                              " refused (validate values with ravejobs.validate_values)")

    for key, value in params.items():
        check(key, value)
    return params


def stage_resources(stage: str, cluster: ClusterSpec) -> tuple[int, float, int]:
    """(CPUs, memory GB, minutes) per task. CPU-only stages ask for less than a GPU's share."""
    return stages.stage(stage).resources(cluster)


def _one_line(text: str) -> str:
    """Text for one line: whitespace folded to single spaces, control characters made visible."""
    return _visible(" ".join(str(text).split()))


def _visible(text: str) -> str:
    """Control characters (line breaks included) written as `\\xNN`: nothing ends a line."""
    return "".join(f"\\x{ord(ch):02x}" if control_chars(ch) else ch for ch in str(text))


def current_provenance() -> tuple[str, str]:
    """(git revision of the ravejobs checkout, the command line that launched this sweep)."""
    from ravejobs.jobs.header import git_revision

    return git_revision(), shlex.join(["python", *sys.argv])


def header_lines(
    array: ArrayJob, cluster: ClusterSpec, sweep: str, provenance: tuple[str, str]
) -> list[str]:
    """Comment lines at the top of the script body: what, for whom, why, which runs."""
    spec = array.tasks[0].spec
    gpus = stages.stage(array.stage).gpu_request(cluster) or "none"
    cpus, mem_gb, minutes = stage_resources(array.stage, cluster)
    nodes, tasks = stages.stage(array.stage).layout(cluster)
    memory = f"{mem_gb * tasks:g}G memory" if cluster.request_memory else "memory not requested"
    lines = [
        f"ravejobs {_one_line(sweep)}, stage {array.label}: {WHY[array.stage]}",
        f"requested by {_one_line(getpass.getuser())} for account "
        f"{_one_line(cluster.account or '-')} on {_one_line(cluster.name)}; "
        f"reason: {_one_line(spec.reason) or '-'}",
        f"per array task: {nodes} node(s) x (GPUs {gpus}, {tasks} process(es) of {cpus} CPUs, "
        f"{memory}), {minutes} min (requeues itself at the limit and resumes)",
    ]
    if nodes * tasks > 1:
        lines.append(f"distributed: {nodes * tasks} ranks (one per GPU), model.batch per GPU, "
                     f"global batch {nodes * tasks} x {spec.model.batch}")
    if cluster.compute_writes == "scratch":
        lines.append(f"storage: {_one_line(cluster.name)} compute nodes write only to scratch, "
                     "which is purged: copy finished runs to project space")
    if array.dependency and array.after_job:
        lines.append(f"waits for: {array.dependency}:{array.after_job}, queued by an earlier "
                     "launch")
    elif array.dependency:
        lines.append(f"waits for: {array.dependency} on the previous stage's array")
    lines.append("tasks (array index, run, signature, what):")
    for i, task in enumerate(array.tasks):
        lines.append(f"  {i:>4}  {_one_line(run_name(task.spec, task.stage))}  "
                     f"{_one_line(task.signature)}  {_one_line(_what(task.stage, task.spec))}")
    lines.append(f"run folders: {_one_line(Path(spec.storage.root) / 'runs')}")
    lines.append(f"code: ravejobs git {_one_line(provenance[0])}")
    lines.append(f"launched with: {_one_line(provenance[1])}")
    return [f"# {_visible(line)}" for line in lines]


def _what(stage: str, spec: Any) -> str:
    if stage == "train":
        return (f"{spec.dataset.name}, model {spec.model.name}, warmup {spec.phase.warmup}, "
                f"budget {spec.phase.max_steps} steps, kl {spec.kl.mode}")
    if stage == "prior":
        return f"{spec.dataset.name}, {spec.prior.max_steps} steps"
    return spec.dataset.name


def render_sbatch(
    array: ArrayJob,
    cluster: ClusterSpec,
    sweep: str,
    folder: str | Path,
    depends_on: str | None = None,
    python: str = sys.executable,
    provenance: tuple[str, str] | None = None,
) -> str:
    """The exact sbatch script submitit writes for this array (used for dry runs and goldens)."""
    params = executor_parameters(array, cluster, sweep, depends_on, provenance)
    checked_parameters({"folder": str(folder), "python": python})
    command = f"{shlex.quote(python)} -u -m submitit.core._submit {shlex.quote(str(folder))}"
    return _make_sbatch_string(command=command, folder=folder, map_count=len(array.tasks), **params)


def log_folder(root: str | Path, sweep: str, array: ArrayJob) -> Path:
    """submitit's folder for an array: scripts, pickles, logs named `%A_%a_0_log.out`."""
    return Path(root) / "sweeps" / sweep / "slurm" / array.label


def submit_array(
    array: ArrayJob,
    cluster: ClusterSpec,
    sweep: str,
    folder: Path,
    depends_on: str | None = None,
    max_num_timeout: int = 1000,
) -> list[Any]:
    """Submit one array through submitit; returns its jobs (task i runs array.tasks[i])."""
    import submitit

    checked_parameters({"folder": str(folder)})
    from ravejobs.jobs.runner import StageRunner
    from ravejobs.rundir import RunDir

    if cluster.executor == "local":
        from ravejobs.localrun import LocalStageRunner as StageRunner  # noqa: N814 - takes Ctrl-C
    runners = [
        StageRunner(task.stage, str(RunDir.for_spec(task.spec, task.stage).path))
        for task in array.tasks
    ]
    if cluster.executor == "local":
        executor: Any = submitit.LocalExecutor(folder=folder, max_num_timeout=max_num_timeout)
        executor.update_parameters(timeout_min=cluster.time_min)
    else:
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=max_num_timeout)
        executor.update_parameters(**executor_parameters(array, cluster, sweep, depends_on))
    with executor.batch():
        jobs = [executor.submit(runner) for runner in runners]
    return jobs
