"""Metrics as an append-only CSV of `step,time,key,value` rows in the run folder.

Long format so a job can add a key at any time, a reader can seek to where it stopped last
(`read_metrics(offset=...)`), and a resumed job's repeated steps are resolved by keeping the last
row per (key, step).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping
from pathlib import Path

HEADER = "step,time,key,value\n"


class MetricsWriter:
    """Appends rows and flushes each batch, so a killed job loses at most one batch."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.write_text(HEADER)
        self._fh = self.path.open("a", buffering=1)

    def log(self, step: int, values: Mapping[str, float], when: float | None = None) -> None:
        now = time.time() if when is None else when
        self._fh.write("".join(f"{step},{now:.3f},{k},{float(v):.6g}\n" for k, v in values.items()))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


Series = dict[str, dict[int, tuple[float, float]]]


def read_metrics(path: str | Path, offset: int = 0) -> tuple[Series, int]:
    """Rows from byte `offset` on: {key: {step: (time, value)}}, and the offset to resume from.

    Only whole lines are consumed, so a line being written is read on the next call.
    """
    out: Series = {}
    path = Path(path)
    if not path.exists():
        return out, offset
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    for row in csv.reader(io.StringIO(data[:end].decode())):
        if len(row) != 4 or row[0] == "step":
            continue
        try:
            out.setdefault(row[2], {})[int(row[0])] = (float(row[1]), float(row[3]))
        except ValueError:
            continue
    return out, offset + end
