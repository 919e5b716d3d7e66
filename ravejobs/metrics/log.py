"""The metrics log: fixed-width binary records appended to `metrics.bin`, keys in `metrics.keys`.

Each record is (int64 step, float64 unix time, float64 value, uint32 key id), 28 bytes,
little-endian, after one header record that names the format. Key ids are line numbers of
`metrics.keys` (one name a line, appended before the first record that uses it), so a job can
add a key at any time. Reading is `np.fromfile`: no parser of ours (issue 13's benchmark,
`bench/bench_metrics_format.py`, measured it against the hand-written CSV parser it replaced).

Crash safety: each batch is one `write` to an O_APPEND descriptor, so a killed job loses at
most that batch; readers take whole records only, and the next writer cuts a torn tail. A
resumed job's repeated steps are resolved by readers keeping the last record per (key, step).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RECORD = np.dtype([("step", "<i8"), ("time", "<f8"), ("value", "<f8"), ("key", "<u4")])
MAGIC = b"ravejobs metrics v1\n".ljust(RECORD.itemsize, b"\0")
HEADER = len(MAGIC)


def keys_file(path: Path) -> Path:
    """`metrics.keys` beside `metrics.bin`."""
    return path.with_suffix(".keys")


def is_log(path: Path) -> bool:
    """True when `path` starts with the log's header record (False for CSV or an empty file)."""
    try:
        with path.open("rb") as fh:
            return fh.read(HEADER) == MAGIC
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class Records:
    """Records in file order; `code` indexes `keys`."""

    step: np.ndarray
    time: np.ndarray
    code: np.ndarray
    value: np.ndarray
    keys: Sequence[str]

    def __len__(self) -> int:
        return len(self.step)

    @classmethod
    def empty(cls) -> Records:
        return cls(np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64), np.empty(0), [])


def read_keys(path: Path) -> list[str]:
    """The key names, whole lines only (a name being written is read next time)."""
    try:
        data = keys_file(path).read_bytes()
    except FileNotFoundError:
        return []
    return data[:data.rfind(b"\n") + 1].decode().splitlines()


def read_log(path: str | Path, offset: int = 0,
             wanted: Sequence[str] | None = None) -> tuple[Records, int]:
    """Whole records from byte `offset` on (only those of `wanted` keys when given), and the
    offset to resume from."""
    path = Path(path)
    with path.open("rb") as fh:
        if fh.read(HEADER) != MAGIC:
            raise ValueError(f"{path}: not a ravejobs metrics log (its first bytes are not "
                             f"{MAGIC.rstrip(bytes(1))!r})")
        offset = max(offset, HEADER)
        count = (os.fstat(fh.fileno()).st_size - offset) // RECORD.itemsize
        fh.seek(offset)
        rec = np.fromfile(fh, RECORD, count=max(count, 0))
    keys = read_keys(path)  # after the records: every id they use is named by now
    code = rec["key"].astype(np.int64)
    known = code < len(keys)
    if wanted is not None:
        ids = [i for i, k in enumerate(keys) if k in set(wanted)]
        known &= np.isin(code, ids)
    if not known.all():
        rec, code = rec[known], code[known]
    return (Records(rec["step"], rec["time"], code, rec["value"], keys),
            offset + len(known) * RECORD.itemsize)


def _cut_torn_tail(path: Path, whole: int, size: int) -> None:
    """A killed writer may leave part of a record or of a key line: the next writer drops it."""
    if size > whole:
        os.truncate(path, whole)


class MetricsWriter:
    """Appends one batch of records per `log` call, one write each (see the module note)."""

    def __init__(self, path: str | Path):
        from ravejobs.metrics.legacy import LEGACY, convert

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        legacy = self.path.with_name(LEGACY)
        if not self.path.exists() and legacy.exists():
            convert(legacy, self.path)  # a run started before the binary log: one history
        size = self.path.stat().st_size if self.path.exists() else 0
        if size and not is_log(self.path):
            raise ValueError(f"{self.path}: not a ravejobs metrics log; move it away to start "
                             "a new one")
        if size:
            _cut_torn_tail(self.path, HEADER + (size - HEADER) // RECORD.itemsize
                           * RECORD.itemsize, size)
        names = keys_file(self.path)
        if names.exists():
            data = names.read_bytes()
            _cut_torn_tail(names, data.rfind(b"\n") + 1, len(data))
        self._ids = {k: i for i, k in enumerate(read_keys(self.path))}
        # 0666 less the umask, as every other file of a run (ravejobs.atomic, docs/admins.md)
        self._keys_fd = os.open(names, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        if not size:
            os.write(self._fd, MAGIC)

    def _id(self, key: str) -> int:
        if key not in self._ids:
            if not key or "\n" in key:
                raise ValueError(f"metric key {key!r}: must be a non-empty single line")
            os.write(self._keys_fd, key.encode() + b"\n")  # named before any record uses it
            self._ids[key] = len(self._ids)
        return self._ids[key]

    def log(self, step: int, values: Mapping[str, float], when: float | None = None) -> None:
        rec = np.empty(len(values), RECORD)
        rec["step"] = step
        rec["time"] = time.time() if when is None else when
        rec["value"] = [float(v) for v in values.values()]
        rec["key"] = [self._id(k) for k in values]
        data = rec.tobytes()
        written = os.write(self._fd, data)
        if written != len(data):  # a full disk: stop here, the next writer cuts the torn tail
            raise OSError(28, f"disk full writing {self.path} ({written} of {len(data)} bytes)",
                          str(self.path))

    def close(self) -> None:
        for fd in (self._fd, self._keys_fd):
            os.close(fd)
        self._fd = self._keys_fd = -1
