"""Log and validation intervals that fit the step budget when they are not set.

A 100-step run on one's own corpus logged 2 points with the 1M-step defaults. Unset intervals
now aim at a number of points per run, capped at the values long runs always had (validation
every 10000 steps, a metric row every 100): every budget from 200000 steps up gets exactly the
old cadence, so the signatures of real runs (train.val_every is part of them) do not move.
"""

from __future__ import annotations

VAL_POINTS, VAL_CAP = 20, 10_000     # validations per run; the long-run interval
LOG_POINTS, LOG_CAP = 100, 100       # metric rows per run; the long-run interval


def auto_interval(budget: int, points: int, cap: int) -> int:
    """Steps between events so that a run of `budget` steps has about `points` of them."""
    return max(1, min(cap, budget // points))


def val_every(budget: int) -> int:
    return auto_interval(budget, VAL_POINTS, VAL_CAP)


def log_every(budget: int) -> int:
    return auto_interval(budget, LOG_POINTS, LOG_CAP)
