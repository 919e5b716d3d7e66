"""From composed sweep points to submitted arrays: validate, plan, print, submit, record.

The one flow behind `python launch.py [-m] ...`. Validation is all or nothing; a dry run prints
the plan and every sbatch script and writes nothing; a real launch creates the run folders,
writes the sweep manifest and submits one array per stage (SLURM: chained by dependencies and
returns at once; local: stage after stage on this machine).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ravejobs.config import ConfigError, RunSpec, build_runspecs
from ravejobs.config.schema import setting_keys
from ravejobs.launchlock import launch_lock
from ravejobs.manifest import Manifest, ManifestRun, sweep_id
from ravejobs.plan import ArrayJob, Plan, Task, make_plan, stage_tasks
from ravejobs.probes import launch_problems
from ravejobs.progress import watch
from ravejobs.rundir import RunDir
from ravejobs.submit import log_folder, render_sbatch, submit_array
from ravejobs.validate_values import added_key_problems

ACTIVE = ("submitted", "running", "requeued")
CONF = Path(__file__).resolve().parents[1] / "conf"  # for `+key` checks (validate_values)
LIVE_STATES = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
               "CONFIGURING", "COMPLETING")
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def launch_single(cfg: Any) -> dict[str, Any]:
    """`python launch.py ...` without -m: the same flow for one point."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    overrides = tuple(HydraConfig.get().overrides.task) if HydraConfig.initialized() else ()
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return launch_sweep([(OmegaConf.to_container(cfg, resolve=True), overrides)])


def launch_sweep(points: Sequence[tuple[Mapping[str, Any], Iterable[str]]]) -> dict[str, Any]:
    # `+key` no config file defines: Hydra adds it, validation would never read it
    problems = added_key_problems([o for _, overrides in points for o in overrides], CONF,
                                  setting_keys())
    try:
        specs = build_runspecs(points)
    except ConfigError as err:
        problems += err.problems
    else:  # the launch edge: files and environment of this machine (ravejobs.probes)
        problems += launch_problems(
            (spec, bool(cfg.get("dry_run"))) for spec, (cfg, _) in zip(specs, points, strict=True))
    if problems:
        count = len(problems)
        print(f"Invalid sweep, nothing submitted ({count} problem{'s' * (count > 1)}):",
              file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        raise SystemExit(2) from None
    dry_run = any(bool(cfg.get("dry_run")) for cfg, _ in points)
    try:
        result = run_sweep(specs, dry_run=dry_run)
    except OSError as err:  # read-only root, permissions, a missing folder: one line
        from ravejobs.oserrors import os_error_line

        print(f"launch stopped: {os_error_line(err)}", file=sys.stderr)
        raise SystemExit(1) from None
    if result.get("failed"):
        raise SystemExit(1)  # local runs: a failed stage is the command's failure
    return result


def task_state(task: Task) -> tuple[str, str]:
    """(finished | active | started | new, the job id when active), from the run folder."""
    if task.stage == "prepare" and (Path(task.spec.dataset.packed) / "index.json").is_file():
        return "finished", ""
    run = RunDir.for_spec(task.spec, task.stage)
    if not run.state_file.exists():
        return "new", ""
    state = run.state()
    if state.status == "finished":
        return "finished", ""
    if state.status in ACTIVE and state.job_id and _job_alive(task.spec, state.job_id):
        return "active", state.job_id
    return ("started" if state.step or state.checkpoint else "new"), ""


def _job_alive(spec: RunSpec, job_id: str) -> bool:
    """Whether the scheduler still holds the job (pending, running, requeued)."""
    if spec.cluster.executor == "local":
        return False  # local stages run in the foreground: nothing outlives the launcher
    import subprocess

    from ravejobs.slurm import sacct

    record = sacct([job_id]).get(job_id)
    if record is not None:
        return record.state.split()[0] in LIVE_STATES
    # accounting can lag a fresh submission by a moment: ask the controller too
    queue = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True,
                           text=True, timeout=30)
    return any(line.strip() in LIVE_STATES for line in queue.stdout.splitlines())


def run_sweep(specs: list[RunSpec], dry_run: bool = False) -> dict[str, Any]:
    cluster = specs[0].cluster  # one cluster and one root per sweep (validate_values)
    root = specs[0].storage.root
    tasks = [t for stage in stage_tasks(specs).values() for t in stage]
    sid = sweep_id(t.key for t in tasks)
    if dry_run:
        plan, states, _ = _plan(specs, tasks)
        print_plan(plan, states, sid, dry_run, tasks=tasks)
        need = _space_need(tasks, root)
        if need is not None:
            console.print(f"disk: {need.line(root)}"
                          + ("" if need.fits else " (a real launch would stop here)"),
                          markup=False)
        for array in plan.arrays:
            dep = array.after_job if array.after is None else \
                f"<{plan.arrays[array.after].label} array id>"
            folder = log_folder(root, sid, array)
            console.rule(f"sbatch script: {array.label}")
            print(render_sbatch(array, cluster, sid, folder, dep))
        return {"sweep": sid, "plan": plan, "submitted": []}
    need = _space_need(tasks, root)
    if need is not None and not need.fits:
        print(f"Not enough space, nothing submitted: {need.line(root)}; free some, lower "
              "train.keep_last, or move RAVEJOBS_ROOT (docs/config.md)", file=sys.stderr)
        raise SystemExit(2)
    with launch_lock(root, sid, say=lambda line: console.print(line, markup=False)):
        plan, states, active = _plan(specs, tasks)
        print_plan(plan, states, sid, dry_run,
                   {f"{t.stage} {t.dirname}": active[t.key] for t in tasks if t.key in active},
                   tasks)
        manifest = _open_manifest(specs[0], sid, tasks, active)
        for task in tasks:  # skipped because its store is current: done, not pending forever
            if task.stage == "prepare" and states[task.key] == "finished":
                _store_current(RunDir.for_spec(task.spec, task.stage), task.spec.dataset.packed)
        failed: set[tuple[str, str]] = set()
        if cluster.executor == "local":
            started: list[tuple[RunDir, Any]] = []
            try:
                job_ids = _run_local(plan, manifest, failed, started)
            except KeyboardInterrupt:
                from ravejobs.localrun import stop_after_interrupt

                raise SystemExit(stop_after_interrupt(started)) from None
        else:
            job_ids = _submit_slurm(plan, manifest)
    console.print(f"sweep [bold]{sid}[/]: manifest {manifest.path}", soft_wrap=True)
    if cluster.executor != "local" and (job_ids or active):
        console.print(f"follow it with: ravejobs status {sid}")
    return {"sweep": sid, "plan": plan, "submitted": job_ids, "manifest": str(manifest.path),
            "failed": sorted(failed), "held": dict(active)}


def _space_need(tasks: list[Task], root: str) -> Any:
    """What the sweep's training runs keep at most against the root's free space (diskcheck):
    runs in the queue keep checkpoints too; finished ones hold theirs already."""
    from ravejobs.diskcheck import free_bytes, space_need

    trains = [t for t in tasks if t.stage == "train" and
              RunDir.for_spec(t.spec, t.stage).state().status != "finished"]
    if not trains:
        return None
    return space_need([t.spec for t in trains],
                      [RunDir.for_spec(t.spec, t.stage).path for t in trains], free_bytes(root))


def _plan(specs: list[RunSpec], tasks: list[Task]
          ) -> tuple[Plan, dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """(plan, state of each task, job id of each task still in the queue)."""
    states: dict[tuple[str, str], str] = {}
    active: dict[tuple[str, str], str] = {}
    for task in tasks:
        states[task.key], job = task_state(task)
        if job:
            active[task.key] = job
    max_array, max_submit = _limits(specs[0].cluster)
    plan = make_plan(specs, max_array_size=max_array, max_submit=max_submit,
                     skip=lambda t: states[t.key] in ("finished", "active"), active=active)
    return plan, states, active


def _store_current(run: RunDir, packed: str) -> None:
    if run.state().status != "finished":
        run.update_state(status="finished", phase="prepare",
                         message=f"store up to date: {packed}; not run again")


def _limits(cluster: Any) -> tuple[int, int | None]:
    max_array, max_submit = cluster.max_array_size, cluster.max_submit
    if cluster.executor == "slurm" and (max_array is None or max_submit is None):
        from ravejobs.slurm import cluster_limits

        site_array, site_submit = cluster_limits()
        max_array = max_array or site_array
        max_submit = max_submit or site_submit
    # MaxArraySize N allows indices 0..N-1: an array of N tasks
    return int(max_array or 1000), max_submit


def _open_manifest(first: RunSpec, sid: str, tasks: list[Task],
                   active: Mapping[tuple[str, str], str]) -> Manifest:
    """This sweep's manifest (kept, never replaced), its run folders, and the job ids of
    tasks an earlier launch holds in the queue (so `status` and `cancel` see them)."""
    root = first.storage.root
    try:
        manifest = Manifest.load(Path(root) / "sweeps" / sid)
    except FileNotFoundError:
        manifest = Manifest(sweep_id=sid, root=root, cluster=first.cluster.name,
                            executor=first.cluster.executor)
    for task in tasks:
        run = RunDir.for_spec(task.spec, task.stage)
        run.create(task.spec)
        entry = manifest.add_run(ManifestRun(run.name, run.signature, task.stage, str(run.path)))
        if task.key in active:
            entry.job_id = active[task.key]
    manifest.save()
    return manifest


def _record(manifest: Manifest, array: ArrayJob, jobs: list[Any], depends: str | None) -> None:
    for task, job in zip(array.tasks, jobs, strict=True):
        entry = manifest.run(task.stage, task.signature)
        assert entry is not None
        entry.job_id = str(job.job_id)
        RunDir(Path(entry.path), entry.name, entry.signature, task.stage).update_state(
            status="submitted", job_id=entry.job_id, message="")
    manifest.submissions.append({"array": array.label, "job_id": _array_id(jobs),
                                 "tasks": len(jobs), "dependency": array.dependency,
                                 "after": depends})
    manifest.save()


def _array_id(jobs: list[Any]) -> str:
    return str(jobs[0].job_id).split("_")[0]


def _submit_slurm(plan: Plan, manifest: Manifest) -> list[str]:
    array_ids: list[str] = []
    for array in plan.arrays:
        depends = array_ids[array.after] if array.after is not None else array.after_job
        cluster = array.tasks[0].spec.cluster
        folder = log_folder(manifest.root, manifest.sweep_id, array)
        jobs = submit_array(array, cluster, manifest.sweep_id, folder, depends)
        array_ids.append(_array_id(jobs))
        _record(manifest, array, jobs, depends)
    return array_ids


def _run_local(plan: Plan, manifest: Manifest, failed: set[tuple[str, str]],
               started: list[tuple[RunDir, Any]]) -> list[str]:
    """Stage after stage on this machine; a failed task blocks what depends on it.

    `started` collects (run folder, submitit job) as tasks start, for a Ctrl-C report.
    """
    from ravejobs.localrun import ignoring_sigint

    ids: list[str] = []
    for array in plan.arrays:
        runnable = [t for t in array.tasks if t.needs not in failed]
        for task in array.tasks:
            if task.needs in failed:
                failed.add(task.key)
                RunDir.for_spec(task.spec, task.stage).update_state(
                    status="blocked", message=f"blocked: its {task.needs[0]} failed")
        if not runnable:
            continue
        sub = ArrayJob(array.stage, array.part, tuple(runnable))
        cluster = runnable[0].spec.cluster
        folder = log_folder(manifest.root, manifest.sweep_id, sub)
        console.print(f"[bold]{sub.label}[/]: {len(runnable)} task(s) on this machine")
        for i in range(0, len(runnable), max(1, cluster.array_parallelism)):
            chunk = ArrayJob(sub.stage, sub.part, sub.tasks[i : i + cluster.array_parallelism])
            with ignoring_sigint():  # the local controllers inherit it (see localrun)
                jobs = submit_array(chunk, cluster, manifest.sweep_id, folder)
            started.extend((RunDir.for_spec(t.spec, t.stage), j)
                           for t, j in zip(chunk.tasks, jobs, strict=True))
            _record(manifest, chunk, jobs, None)
            watch(console, [(job, RunDir.for_spec(t.spec, t.stage), _budget(t))
                            for t, job in zip(chunk.tasks, jobs, strict=True)])
            for task, job in zip(chunk.tasks, jobs, strict=True):
                ids.append(str(job.job_id))
                try:
                    job.result()
                    console.print(f"  [green]done[/] {RunDir.for_spec(task.spec, task.stage).path}")
                except Exception as err:  # noqa: BLE001 - reported, and its dependents blocked
                    failed.add(task.key)
                    console.print(f"  [red]failed[/] {task.dirname}: {str(err).strip()[-400:]}")
    if failed:
        console.print(f"[red]{len(failed)} task(s) failed or blocked[/]")
    return ids


def _budget(task: Task) -> int | None:
    if task.stage == "train":
        return task.spec.phase.max_steps
    return task.spec.prior.max_steps if task.stage == "prior" else None


def print_plan(plan: Plan, states: dict[tuple[str, str], str], sid: str, dry_run: bool,
               held: Mapping[str, str] | None = None, tasks: Sequence[Task] = ()) -> None:
    """The plan as a table; `held`: run folder name -> job id of tasks already queued. Tasks
    not resubmitted (finished, still queued) are listed too, so a sweep typed again shows where
    each of its runs stands instead of an empty table; runs sharing a name get ` #i` and what
    sets each apart is added to `what` (ravejobs.differences)."""
    from ravejobs.differences import describe

    title = f"{sid}: {'dry run, nothing submitted' if dry_run else 'plan'}"
    table = Table(title=title)
    for col in ("array", "task", "run", "signature", "what", "after", "state"):
        table.add_column(col)
    planned = [(array, i, task) for array in plan.arrays for i, task in enumerate(array.tasks)]
    keys = {task.key for _, _, task in planned}
    shown = planned + [(None, None, t) for t in tasks if t.key not in keys]
    labels = describe([(RunDir.for_spec(t.spec, t.stage).name, t.spec, t.stage)
                       for _, _, t in shown])
    for (array, i, task), (name, differs) in zip(shown, labels, strict=True):
        spec = task.spec
        what = {
            "train": f"warmup {spec.phase.warmup}, budget {spec.phase.max_steps}, "
                     f"kl {spec.kl.mode}, {spec.model.name}",
            "prior": f"{spec.prior.max_steps} prior steps",
        }.get(task.stage, spec.dataset.name)
        if task.stage == "train":   # kl mode and warmup are in `what` already
            differs = " ".join(w for w in differs.split() if not w.startswith(("kl=", "warmup=")))
        if differs:
            what += f"; {differs}"
        if array is None:
            table.add_row("—", "—", name, task.signature, what, "", states.get(task.key, ""))
            continue
        after = "" if array.dependency is None else \
            f"{array.dependency}:{array.after_job}" if array.after is None else \
            f"{array.dependency}:{plan.arrays[array.after].label}"
        table.add_row(array.label, str(i), name, task.signature, what, after,
                      states.get(task.key, "new"))
    skipped = [k for k, v in states.items() if v in ("finished", "active")]
    console.print(table)
    if skipped:
        console.print(f"{len(skipped)} task(s) not resubmitted (finished or still in the queue)")
    for name, job in (held or {}).items():
        console.print(f"  held by an earlier launch: {name} (job {job}, still in the queue)",
                      markup=False)
