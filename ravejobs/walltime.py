"""How long a run has spent running: the sum of its jobs' elapsed times, as their log footers say.

Each job (a first start, a requeue, a re-run) records its start in state.json's `attempts` when
its header is printed and its elapsed seconds when its footer is, keyed by that start, so a
footer printed twice is counted once. `report` and `status` (without a SLURM record) add these up.
They used to take the span of logged metrics, which leaves out loading, the first validation
and the last save: a 100-step demo run whose footer said 39 s was reported as 28 s (issue 16).
"""

from __future__ import annotations

Attempts = dict[str, float | None]  # {"<job start, unix s>": elapsed s, None while running}


def _key(start: float) -> str:
    return f"{start:.6f}"


def started(attempts: Attempts, start: float) -> Attempts:
    """`attempts` with a job starting at `start` added (its elapsed time not known yet)."""
    return {**attempts, _key(start): attempts.get(_key(start))}


def ended(attempts: Attempts, start: float, elapsed_s: float) -> Attempts:
    """`attempts` with the job that started at `start` ending after `elapsed_s` (its footer's)."""
    return {**attempts, _key(start): round(float(elapsed_s), 3)}


def run_seconds(attempts: Attempts, status: str, updated: float, now: float) -> float | None:
    """Seconds the run's jobs have run: ended jobs as their footers said, the latest one, if
    still without a footer, until `now` while running (else until state.json's last update).
    None for a run folder from before these records (callers then estimate)."""
    if not attempts:
        return None
    total = sum(float(v) for v in attempts.values() if v is not None)
    latest = max(attempts, key=float)
    if attempts[latest] is None:  # an earlier job killed without a footer counts nothing
        end = now if status == "running" else updated
        total += max(0.0, end - float(latest))
    return total
