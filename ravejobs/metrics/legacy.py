"""Run folders from before the binary log hold `metrics.csv` (`step,time,key,value` rows).

Readers take such a file through the standard `csv` module (no parser of ours; speed matters
less for old folders); a job resuming such a run converts it once into `metrics.bin` (written
beside it, then renamed into place) and leaves the CSV where it was.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ravejobs.atomic import atomic_write_bytes
from ravejobs.metrics.log import MAGIC, RECORD, Records, keys_file

LEGACY = "metrics.csv"


def read_csv(path: str | Path, offset: int = 0) -> tuple[Records, int]:
    """Rows of a legacy metrics.csv from byte `offset` on, whole lines only (a line being
    written is read next time); the header and malformed rows are skipped."""
    with Path(path).open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    ids: dict[str, int] = {}
    step, when, code, value = [], [], [], []
    for row in csv.reader(io.StringIO(data[:end].decode(errors="replace"))):
        if len(row) != 4 or row[0] == "step":
            continue
        try:
            s, t, v = int(row[0]), float(row[1]), float(row[3])
        except ValueError:
            continue
        step.append(s)
        when.append(t)
        value.append(v)
        code.append(ids.setdefault(row[2], len(ids)))
    return (Records(np.array(step, np.int64), np.array(when, np.float64),
                    np.array(code, np.int64), np.array(value, np.float64), list(ids)),
            offset + end)


def convert(legacy: Path, target: Path) -> None:
    """Write the rows of `legacy` as a binary log at `target` (and its keys file)."""
    rows, _ = read_csv(legacy)
    rec = np.empty(len(rows), RECORD)
    rec["step"], rec["time"], rec["value"], rec["key"] = rows.step, rows.time, rows.value, rows.code
    # keys first: a log never refers to names that are not there
    atomic_write_bytes(keys_file(target), "".join(f"{k}\n" for k in rows.keys).encode())
    atomic_write_bytes(target, MAGIC + rec.tobytes())
