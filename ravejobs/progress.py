"""A live line per local stage while it runs: phase, step / budget, steps/s, ETA, last distance.

Local stages run in submitit's subprocesses whose output goes to log files, so the launcher
draws the line from what the run leaves on disk (state.json, the metrics log read incrementally).
Only on a terminal: piped or logged output gets no redraws. `eta_seconds` is shared with
`ravejobs status`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ravejobs.durations import format_duration
from ravejobs.metrics.cache import MetricsCache
from ravejobs.rundir import RunDir

PHASES = {"vae": "VAE", "gan": "GAN", "prior": "prior", "export": "export"}
KEYS = ("distance", "prior_loss", "steps_per_s")


def eta_seconds(step: int, budget: int | None, steps_per_s: float | None) -> float | None:
    """Seconds left at the current rate, or None when unknown."""
    if not budget or not steps_per_s or steps_per_s <= 0 or step >= budget:
        return None
    return (budget - step) / steps_per_s


def line(run: RunDir, budget: int | None, cache: MetricsCache) -> str:
    """`03-TR-99-DEMO  GAN  step 64 / 100  3.2 steps/s  ETA 0:11  distance 4.21`."""
    state = run.state()
    series = cache.read(run.metrics_file)
    rate = series["steps_per_s"].last if "steps_per_s" in series else None
    key = "prior_loss" if run.stage == "prior" else "distance"
    last = series[key].last if key in series else None
    budget = state.max_steps or budget
    parts = [run.name, PHASES.get(state.phase, state.phase or state.status)]
    if budget:
        parts.append(f"step {state.step:,} / {budget:,}")
    if rate is not None:
        eta = format_duration(eta_seconds(state.step, budget, rate), "eta")
        parts += [f"{rate:.2f} steps/s", f"ETA {eta}"]
    if last is not None:
        parts.append(f"{key.replace('_', ' ')} {last:.3g}")
    return "  ".join(parts)


def watch(console: Any, jobs: Sequence[tuple[Any, RunDir, int | None]],
          every_s: float = 0.5) -> None:
    """Until every job is done, redraw one line per (job, run, budget); silent off a terminal."""
    if not console.is_terminal:
        return
    from rich.live import Live
    from rich.text import Text

    cache = MetricsCache(keys=KEYS)

    def render() -> Text:
        return Text("\n".join("  " + line(run, budget, cache) for _, run, budget in jobs))

    with Live(render(), console=console, transient=True, auto_refresh=False) as live:
        while not all(job.done() for job, _, _ in jobs):
            time.sleep(every_s)
            live.update(render(), refresh=True)
