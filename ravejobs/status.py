"""`ravejobs status [SWEEP] [--watch SECONDS]`: where every run of a sweep stands.

Reattaches from the sweep manifest (the launcher returned long ago), asks `sacct` about the
jobs (state, requeues, elapsed, GPUs) on SLURM, and reads each run folder's state.json and the
tail of its metrics log (incrementally, so `--watch` stays cheap). On `cluster=local` the run
folders are the only source. A prior whose model failed can never start (its array task waits
on `aftercorr`), so it is shown as blocked rather than pending.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ravejobs import stages, walltime
from ravejobs.metrics.cache import MetricsCache, active_seconds
from ravejobs.rundir import RunDir, RunState, shown_status

PHASES = {"vae": "VAE", "gan": "GAN", "prior": "prior"}
BLOCKED = "blocked (model failed)"  # a prior; others: "blocked (<predecessor> failed)"
FAILED_STATES = ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE")
STYLES = {"FAILED": "red", "failed": "red", "blocked": "red", "diverged": "red",
          "TIMEOUT": "red", "OUT_OF_MEMORY": "red", "CANCELLED": "yellow", "COMPLETED": "green",
          "finished": "green", "RUNNING": "cyan", "running": "cyan"}


@dataclass(frozen=True)
class StatusRow:
    name: str
    signature: str
    stage: str
    state: str                  # SLURM state (with requeues) or the run folder's status
    phase: str
    step: int
    budget: int | None          # None for stages without steps (prepare, export)
    steps_per_s: float | None
    checkpoint_age_s: float | None
    elapsed_s: float
    gpu_hours: float
    message: str = ""           # why it failed (one line, e.g. a full disk), from state.json
    reason: str = ""            # short: why it failed or is blocked (the reason column)
    differs: str = ""           # settings that set it apart from the sweep's other runs


def _checkpoint_age(run: RunDir, state: RunState, now: float) -> float | None:
    """Age of the checkpoint state.json names, else of the newest file in checkpoints/."""
    candidates = [Path(state.checkpoint)] if state.checkpoint else []
    if not candidates and run.checkpoints.is_dir():
        candidates = [p for p in run.checkpoints.iterdir() if p.is_file()
                      and not p.name.startswith(".tmp-")]
    times = [p.stat().st_mtime for p in candidates if p.exists()]
    return now - max(times) if times else None


def _blocked(run: RunDir, state: RunState) -> str:
    """"blocked (<what> failed)" when the run never ran because what it needs failed."""
    if shown_status(run, state) != "blocked":
        return ""
    prev = stages.predecessor(run.stage, run.spec())
    if prev == "train" and RunDir.for_spec(run.spec(), "train").state().status == "diverged":
        return "blocked (model diverged)"
    return BLOCKED if prev == "train" else f"blocked ({prev} failed)"


def _slurm_state(record: Any) -> str:
    text = record.state
    if record.restarts:
        text += f" ({record.restarts} requeue{'s' if record.restarts > 1 else ''})"
    return text


def status_row(path: Path, job_id: str, records: dict[str, Any], cache: MetricsCache,
               now: float) -> StatusRow:
    """One run's row: SLURM record if there is one, else its state.json and metrics.

    Elapsed without SLURM: what the job log footers said (ravejobs.walltime, as the report
    counts wall time); for older folders the span of logged steps less queue waits, else from
    state.json's start to its last update (or now, while running).
    """
    run = RunDir.open(path)
    state = run.state()
    record = records.get(job_id) if job_id else None
    budget: int | None = None
    try:
        spec = run.spec()
        gpus = stages.stage(run.stage).gpu_count(spec.cluster)
        budget = stages.stage(run.stage).budget(spec)
    except (OSError, KeyError, TypeError, ValueError):
        gpus = 0
    if stages.stage(run.stage).steps:
        budget = state.max_steps or budget
    sps = cache.read(run.metrics_file).get("steps_per_s")
    if record is not None:
        shown = _slurm_state(record)
        elapsed = record.wall_s
        gpu_hours = record.gpu_hours if record.gpus else elapsed / 3600 * gpus
    else:
        shown = state.status
        recorded = walltime.run_seconds(state.attempts, state.status, state.updated, now)
        if recorded is not None:
            elapsed = recorded
        elif sps is not None and len(sps) > 1:
            elapsed = active_seconds(sps.time)
        else:
            end = now if state.status in ("running", "submitted") else state.updated
            elapsed = max(0.0, end - state.started) if state.started else 0.0
        gpu_hours = elapsed / 3600 * gpus
    phase = PHASES.get(state.phase, state.phase or "—")
    if run.stage == "prior":
        phase = "prior"
    blocked = _blocked(run, state)
    if blocked:
        shown, phase = blocked, "—"
    if state.status == "diverged":  # SLURM only says FAILED; the run folder says why
        shown = "diverged"
    # state.json's step is its checkpoint's; the metrics say how far training got since
    logged = int(sps.step[-1]) if sps is not None and len(sps) else 0
    return StatusRow(
        name=run.name, signature=run.signature, stage=run.stage, state=shown, phase=phase,
        step=max(state.step, logged), budget=budget,
        steps_per_s=sps.last if sps is not None else None,
        checkpoint_age_s=_checkpoint_age(run, state, now), elapsed_s=elapsed,
        gpu_hours=gpu_hours,
        message=state.message if state.status in ("failed", "diverged") else "",
        reason=_reason(run, state, shown, record))


def _reason(run: RunDir, state: RunState, shown: str, record: Any) -> str:
    """One short line for the reason column: the error, what it waits on, or SLURM's verdict."""
    if shown.startswith("blocked"):
        return f"its {stages.predecessor(run.stage, run.spec())} failed; fix that, launch again"
    if state.status in ("failed", "diverged") and state.message:
        return " ".join(state.message.split())
    if record is not None and record.state.split()[0] in FAILED_STATES:
        return f"SLURM {record.state.split()[0]} (exit {record.exit_code}); see {run.logs}"
    return ""


def sweep_status(manifest: Any, cache: MetricsCache, records: dict[str, Any] | None = None,
                 now: float | None = None) -> list[StatusRow]:
    """Rows for every run of the manifest whose folder exists; `records` from sacct."""
    from dataclasses import replace

    from ravejobs.differences import describe

    now = time.time() if now is None else now
    rows, specs = [], []
    for run in manifest.runs:
        if (Path(run.path) / "run.json").is_file():
            rows.append(status_row(Path(run.path), run.job_id, records or {}, cache, now))
            try:
                specs.append(RunDir.open(run.path).spec())
            except (OSError, KeyError, TypeError, ValueError):
                specs.append(None)
    labels = describe([(r.name, spec, r.stage) for r, spec in zip(rows, specs, strict=True)])
    return [replace(r, name=name, differs=differs)
            for r, (name, differs) in zip(rows, labels, strict=True)]


def fetch_records(manifest: Any) -> tuple[dict[str, Any], str]:
    """sacct records of the manifest's jobs on SLURM; ({}, why) when there are none."""
    if manifest.executor != "slurm":
        return {}, ""
    ids = [r.job_id for r in manifest.runs if r.job_id]
    if not ids:
        return {}, "no job ids in the manifest yet"
    from ravejobs import slurm

    try:
        return slurm.sacct(ids), ""
    except (slurm.SlurmError, OSError) as err:
        return {}, f"sacct failed, showing run folders only: {err}"


def render(manifest: Any, rows: list[StatusRow], note: str = "") -> Any:
    from rich.table import Table

    from ravejobs.durations import format_duration

    title = f"{manifest.sweep_id} on {manifest.cluster} ({manifest.executor})"
    why = [f"{r.name}.{r.signature}: {r.message}" for r in rows if r.message]
    table = Table(title=title, caption="\n".join([note, *why]).strip() or None)
    differs = any(r.differs for r in rows)
    reasons = any(r.reason for r in rows)
    for header, right in (("run", False), ("signature", False), ("stage", False),
                          *((("differs", False),) if differs else ()),
                          ("state", False), ("phase", False), ("step / budget", True),
                          ("steps/s", True), ("ETA", True), ("checkpoint age", True),
                          ("elapsed", True), ("GPU-h", True),
                          *((("reason", False),) if reasons else ())):
        table.add_column(header, justify="right" if right else "left",
                         overflow="fold" if header == "reason" else "ellipsis")
    for r in rows:
        style = STYLES.get(r.state.split(" (")[0])
        table.add_row(
            r.name, r.signature, r.stage, *((r.differs,) if differs else ()),
            f"[{style}]{r.state}[/]" if style else r.state,
            r.phase, "—" if r.budget is None else f"{r.step:,} / {r.budget:,}",
            "—" if r.steps_per_s is None else f"{r.steps_per_s:.2f}", _eta(r),
            format_duration(r.checkpoint_age_s, "age"), format_duration(r.elapsed_s),
            f"{r.gpu_hours:.2f}",
            *((_short(r.reason),) if reasons else ()))
    return table


def _eta(r: StatusRow) -> str:
    """Time left at the last logged rate, for a run that is running (else —)."""
    from ravejobs.durations import format_duration
    from ravejobs.progress import eta_seconds

    if r.state.split(" (")[0] not in ("running", "RUNNING"):
        return "—"
    return format_duration(eta_seconds(r.step, r.budget, r.steps_per_s), "eta")


def _short(reason: str, width: int = 80) -> str:
    """The reason's end (an error's last words say most), at most `width` characters; the
    whole message is under the table."""
    return reason if len(reason) <= width else "…" + reason[-(width - 1):]


def load_manifest(ref: str | None) -> Any:
    from ravejobs.manifest import Manifest

    return Manifest.load(ref or "latest")


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    if args.watch < 0:
        raise ValueError(f"--watch {args.watch}: give a positive number of seconds")
    cache = MetricsCache(keys=("steps_per_s",))
    console = Console()
    if not console.is_terminal:   # piped or logged: whole rows, not squeezed to 80 columns
        console = Console(width=200)

    def table() -> Any:
        manifest = load_manifest(args.sweep)
        records, note = fetch_records(manifest)
        return render(manifest, sweep_status(manifest, cache, records), note)

    if not args.watch:
        console.print(table())
        return 0
    from rich.live import Live

    try:
        with Live(table(), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(args.watch)
                live.update(table(), refresh=True)
    except KeyboardInterrupt:
        return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "status", help="where every run of a sweep stands (SLURM state, phase, step, GPU-h)",
        description="Reattach to a sweep from its manifest and show one row per run. SWEEP: a "
                    "sweep id, sweep folder or manifest.json; default: the newest sweep under "
                    "$RAVEJOBS_ROOT/sweeps.")
    p.add_argument("sweep", nargs="?", default=None, metavar="SWEEP")
    p.add_argument("--watch", type=float, default=0.0, metavar="SECONDS",
                   help="redraw every SECONDS until Ctrl-C")
    p.set_defaults(func=_run)
