"""Metrics of a run: one writer, one reader, one incremental cache.

Training writes `metrics.bin` through `MetricsWriter(path).log(step, values)` (the binary log of
`metrics/log.py`: fixed-width records, keys named in `metrics.keys`); status, report and the
progress line read it through `metrics.cache.MetricsCache`, which parses only what was
appended. Older run folders hold `metrics.csv`, which the same readers take through
`metrics/legacy.py`. A resumed job's repeated steps are resolved by keeping the last row per
(key, step).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ravejobs.metrics.legacy import LEGACY, read_csv
from ravejobs.metrics.log import MAGIC, MetricsWriter, Records, read_log

FILE = "metrics.bin"

__all__ = ["FILE", "LEGACY", "MetricsWriter", "Records", "read_metrics", "read_records", "source"]


def source(path: str | Path) -> Path | None:
    """The file holding a run's metrics: `path` itself, else the legacy metrics.csv beside it,
    else None (nothing logged yet)."""
    path = Path(path)
    if path.exists():
        return path
    legacy = path.with_name(LEGACY)
    return legacy if legacy.exists() else None


def read_records(path: str | Path, offset: int = 0,
                 wanted: Sequence[str] | None = None) -> tuple[Records, int]:
    """Records of the metrics file `path` (binary log or legacy CSV) from byte `offset` on,
    in file order, and the offset to resume from. `path` must exist (see `source`)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(len(MAGIC))
    if head == MAGIC:
        return read_log(path, offset, wanted)
    if MAGIC.startswith(head):  # empty, or its header being written
        return Records.empty(), offset
    rows, end = read_csv(path, offset)
    if wanted is None:
        return rows, end
    keep = [i for i, k in enumerate(rows.keys) if k in set(wanted)]
    mask = np.isin(rows.code, keep)
    return Records(rows.step[mask], rows.time[mask], rows.code[mask], rows.value[mask],
                   rows.keys), end


Series = dict[str, dict[int, tuple[float, float]]]


def read_metrics(path: str | Path, offset: int = 0) -> tuple[Series, int]:
    """{key: {step: (time, value)}} (the last row of a repeated step wins) from byte `offset`
    on, and the offset to resume from; for tests and scripts (status and report use the cache).
    `path` is a run's metrics file; a missing one reads as its legacy CSV or as empty."""
    found = source(path)
    if found is None:
        return {}, offset
    rows, end = read_records(found, offset)
    out: Series = {}
    for c, s, t, v in zip(rows.code.tolist(), rows.step.tolist(), rows.time.tolist(),
                          rows.value.tolist(), strict=True):
        out.setdefault(rows.keys[c], {})[s] = (t, v)
    return out, end
