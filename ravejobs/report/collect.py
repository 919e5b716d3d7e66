"""Collect run folders of one or more sweeps, with their metrics read incrementally through
`ravejobs.metrics.cache.MetricsCache` (the one reader status uses too)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ravejobs import stages, walltime
from ravejobs.config import RunSpec
from ravejobs.metrics.cache import MetricsCache, Series, active_seconds
from ravejobs.naming import identity
from ravejobs.rundir import RunDir, RunState

# What a report reads: the curves it draws and the last values its table shows.
REPORT_KEYS = ("distance", "validation", "fidelity_95", "prior_loss", "prior_val_loss")
@dataclass(eq=False)
class RunRecord:
    """One run folder and what the report says about it."""

    run: RunDir
    spec: RunSpec | None
    state: RunState
    metrics: dict[str, Series]
    sweep: str = ""
    job_id: str = ""

    @cached_property
    def settings(self) -> dict[str, Any]:
        """The result-deciding settings, flattened (ravejobs.naming.identity); cached."""
        return identity(self.spec, self.run.stage) if self.spec is not None else {}

    @property
    def main_key(self) -> str:
        return "prior_loss" if self.run.stage == "prior" else "distance"

    @property
    def label(self) -> str:
        return f"{self.run.name}.{self.run.signature}"

    @property
    def budget(self) -> int | None:
        if self.spec is None:
            return self.state.max_steps or None
        return self.spec.prior.max_steps if self.run.stage == "prior" else self.spec.phase.max_steps

    @property
    def steps_done(self) -> int:
        series = self.metrics.get(self.main_key)
        logged = int(series.step[-1]) if series is not None and len(series) else 0
        return max(self.state.step, logged)

    @property
    def final_distance(self) -> float | None:
        series = self.metrics.get("distance")
        return series.last if series is not None else None

    @property
    def kept_size(self) -> int | None:
        """Latent dimensions kept at 95 % fidelity (last validation), else the cropped size."""
        series = self.metrics.get("fidelity_95")
        if series is not None and len(series):
            return int(round(series.value[-1]))
        if self.spec is not None and self.spec.model.cropped_latent_size:
            return self.spec.model.cropped_latent_size
        return None

    @property
    def wall_s(self) -> float:
        """Time spent running: the sum of its jobs' elapsed times as their log footers say
        (ravejobs.walltime); for folders from before that record, the span of logged rows
        without queue waits between jobs."""
        recorded = walltime.run_seconds(self.state.attempts, self.state.status, self.state.updated,
                                        time.time())
        if recorded is not None:
            return recorded
        series = self.metrics.get(self.main_key)
        if series is None or len(series) < 2:
            if self.state.started and self.state.updated > self.state.started:
                return self.state.updated - self.state.started
            return 0.0
        return active_seconds(series.time)

    @property
    def gpus(self) -> int:
        if self.spec is None:
            return 0
        return stages.stage(self.run.stage).gpu_count(self.spec.cluster)

    @property
    def gpu_hours(self) -> float:
        return self.wall_s / 3600.0 * self.gpus


def _scan(folder: Path) -> list[Path]:
    if (folder / "run.json").is_file():
        return [folder]
    base = folder / "runs" if (folder / "runs").is_dir() else folder
    return sorted(p.parent for p in base.glob("*/run.json"))


def sweep_runs(ref: str | Path) -> tuple[str, list[tuple[Path, str]]]:
    """A sweep reference -> (label, [(run folder, job id)]).

    A reference is what `Manifest.load` takes (sweep id, sweep folder, manifest.json,
    `latest`), or a run folder, or a folder of run folders (a storage root or its runs/).
    """
    path = Path(ref)
    if path.is_dir() and not (path / "manifest.json").is_file():
        runs = _scan(path)
        if not runs:
            raise FileNotFoundError(f"{path}: no run folders (no */run.json) and no manifest.json")
        return path.name, [(p, "") for p in runs]
    from ravejobs.manifest import Manifest

    manifest = Manifest.load(str(ref))
    return manifest.sweep_id, [(Path(r.path), r.job_id) for r in manifest.runs]


def load_record(path: Path, cache: MetricsCache, sweep: str = "", job_id: str = "") -> RunRecord:
    """Read one run folder; a run whose job has not created it yet is reported as pending."""
    run = RunDir.open(path)
    try:
        spec: RunSpec | None = run.spec()
    except (OSError, KeyError, TypeError, ValueError):
        spec = None
    return RunRecord(run=run, spec=spec, state=run.state(), metrics=cache.read(run.metrics_file),
                     sweep=sweep, job_id=job_id)


def collect(refs: Iterable[str | Path], cache: MetricsCache | None = None,
            stages: tuple[str, ...] = ("train", "prior"),
            threads: int | None = None) -> list[RunRecord]:
    """Every run of the given sweeps at these stages, once each, in sweep order.

    Run folders are read by a few threads: numpy releases the GIL while parsing, so a
    100-run report uses every core it is given.
    """
    cache = cache or MetricsCache(REPORT_KEYS)
    todo: list[tuple[Path, str, str]] = []
    seen: set[Path] = set()
    for ref in refs:
        label, runs = sweep_runs(ref)
        for path, job_id in runs:
            if path.resolve() in seen or not (path / "run.json").is_file():
                continue
            seen.add(path.resolve())
            todo.append((path, label, job_id))
    workers = threads or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        records = list(pool.map(lambda t: load_record(t[0], cache, t[1], t[2]), todo))
    return [r for r in records if r.run.stage in stages]
