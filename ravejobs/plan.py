"""RunSpecs -> staged job arrays with dependencies. Pure: no I/O, tested in milliseconds.

Stages run in the order prepare -> train -> prior -> export. Each stage becomes one SLURM array
(split where the cluster's MaxArraySize / MaxSubmit would be passed). A stage whose tasks pair
one to one with an array of its predecessor depends on it with `aftercorr` (task i waits for
task i only, so a failed model blocks only its own prior); otherwise with `afterok` on the
whole predecessor array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ravejobs import stages
from ravejobs.config import RunSpec
from ravejobs.naming import run_dirname, signature

# Which stage's output each stage consumes (the stage table's column).
PREDECESSOR = {s.name: s.predecessor for s in stages.TABLE}


@dataclass(frozen=True)
class Task:
    """One array task: one stage of one sweep point."""

    stage: str
    spec: RunSpec
    signature: str
    dirname: str
    needs: tuple[str, str] | None  # key (stage, signature) of the task it consumes

    @property
    def key(self) -> tuple[str, str]:
        return (self.stage, self.signature)


@dataclass(frozen=True)
class ArrayJob:
    """One sbatch array. `after` is the index (in Plan.arrays) of the array it waits for."""

    stage: str
    part: int
    tasks: tuple[Task, ...]
    after: int | None = None
    dependency: str | None = None  # "aftercorr" | "afterok"
    after_job: str | None = None   # job id(s) already in the queue this array waits for

    @property
    def label(self) -> str:
        return self.stage if self.part == 0 else f"{self.stage}.{self.part}"


@dataclass(frozen=True)
class Plan:
    arrays: tuple[ArrayJob, ...]

    @property
    def tasks(self) -> list[Task]:
        return [t for a in self.arrays for t in a.tasks]

    def by_stage(self, stage: str) -> list[ArrayJob]:
        return [a for a in self.arrays if a.stage == stage]


def _task(spec: RunSpec, stage: str) -> Task:
    prev = stages.predecessor(stage, spec)  # export without a prior packages the model alone
    needs = (prev, signature(spec, prev)) if prev else None
    return Task(stage, spec, signature(spec, stage), run_dirname(spec, stage), needs)


def stage_tasks(specs: Iterable[RunSpec]) -> dict[str, list[Task]]:
    """Unique tasks per stage, in sweep order (runs sharing a corpus share one prepare)."""
    out: dict[str, dict[tuple[str, str], Task]] = {s: {} for s in stages.NAMES}
    for spec in specs:
        for stage in spec.stages:
            task = _task(spec, stage)
            out[stage].setdefault(task.key, task)
    return {s: list(tasks.values()) for s, tasks in out.items()}


def _chunks(tasks: Sequence[Task], size: int) -> list[tuple[Task, ...]]:
    return [tuple(tasks[i : i + size]) for i in range(0, len(tasks), size)]


def make_plan(
    specs: Iterable[RunSpec],
    *,
    max_array_size: int = 1000,
    max_submit: int | None = None,
    skip: Callable[[Task], bool] = lambda task: False,
    active: Mapping[tuple[str, str], str] | None = None,
) -> Plan:
    """Stage the sweep. `skip(task)` says a task needs no submission (finished or in flight).

    `active` maps the key of each task still in the queue (skipped) to its job id (`123_4`):
    what is planned after such a task waits for that job, not for nothing.
    """
    active = active or {}
    limit = max(1, min(max_array_size, max_submit or max_array_size))
    arrays: list[ArrayJob] = []
    placed: dict[tuple[str, str], tuple[int, int]] = {}  # task key -> (array index, position)
    for stage, tasks in stage_tasks(specs).items():
        todo = [t for t in tasks if not skip(t)]
        if not todo:
            continue
        # Group by the predecessor array each task waits on, in that array's order: an array
        # of this plan (its index), one already in the queue (its job id), or none.
        groups: dict[int | str | None, list[Task]] = {}
        for task in todo:
            where = _where(task, placed)
            if where is None and task.needs in active:
                groups.setdefault(_array_of(active[task.needs]), []).append(task)
            else:
                groups.setdefault(where[0] if where else None, []).append(task)
        for after, group in groups.items():
            if isinstance(after, int):
                group.sort(key=lambda t: _where(t, placed)[1])  # type: ignore[index]
            elif isinstance(after, str):
                group.sort(key=lambda t: _index_of(active[t.needs]))  # type: ignore[index]
            for chunk in _chunks(group, limit):
                dependency, after_job, index = None, None, None
                if isinstance(after, int):
                    index = after
                    dependency = "aftercorr" if _pairs(chunk, arrays[after], placed) else "afterok"
                elif isinstance(after, str):
                    dependency, after_job = _queued_dependency(
                        [active[t.needs] for t in chunk])  # type: ignore[index]
                part = len([a for a in arrays if a.stage == stage])
                arrays.append(ArrayJob(stage, part, chunk, index, dependency, after_job))
                for pos, task in enumerate(chunk):
                    placed[task.key] = (len(arrays) - 1, pos)
    return Plan(tuple(arrays))


def _array_of(job_id: str) -> str:
    return job_id.split("_")[0]


def _index_of(job_id: str) -> int:
    _, _, index = job_id.partition("_")
    return int(index) if index.isdigit() else 0


def _queued_dependency(job_ids: Sequence[str]) -> tuple[str, str]:
    """Dependency on tasks of one array already in the queue: `aftercorr:<array>` when task i
    of the new array waits for task i of that array, else `afterok` on each task's own id."""
    array = _array_of(job_ids[0])
    if all("_" in j for j in job_ids) and \
            [_index_of(j) for j in job_ids] == list(range(len(job_ids))):
        return "aftercorr", array
    return "afterok", ":".join(dict.fromkeys(job_ids))


def _where(task: Task, placed: dict[tuple[str, str], tuple[int, int]]) -> tuple[int, int] | None:
    """(array index, position) of the predecessor task in this plan, if it is being submitted."""
    return placed.get(task.needs) if task.needs else None


def _pairs(chunk: Sequence[Task], before: ArrayJob, placed: dict) -> bool:
    """True when task i of `chunk` consumes task i of `before`: aftercorr applies."""
    return len(chunk) == len(before.tasks) and all(
        _where(t, placed) is not None and _where(t, placed)[1] == i for i, t in enumerate(chunk)
    )
