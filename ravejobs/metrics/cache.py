"""The incremental metrics reader: one series per key, reading only what was appended.

`MetricsCache` remembers, per metrics file, the byte offset it has read up to and the series
read so far (in memory, and optionally in a cache folder between commands), so a report or
`status --watch` run again reads only the records appended since. The log is append-only; a
file that shrank or whose first bytes changed is read again from the start. Training writes
with `ravejobs.metrics.MetricsWriter`; status, report and the progress line read through this
cache (a legacy metrics.csv too, see `metrics/legacy.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ravejobs.metrics import Records, read_records, source

_HEAD = 64            # bytes of a file remembered to notice it was replaced
QUEUE_GAP_S = 600.0   # a pause longer than this between logged rows is a wait in the queue


@dataclass(frozen=True)
class Series:
    """One metric: steps ascending (last row wins for a repeated step), times, values."""

    step: np.ndarray
    time: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.step)

    @property
    def last(self) -> float | None:
        return float(self.value[-1]) if len(self.value) else None


def active_seconds(times: np.ndarray) -> float:
    """Seconds spanned by logged rows, leaving out pauses longer than QUEUE_GAP_S (or 20 times
    the usual interval): a requeued job's wait in the queue is not time spent running."""
    if len(times) < 2:
        return 0.0
    gaps = np.diff(np.sort(times))
    limit = max(QUEUE_GAP_S, 20.0 * float(np.median(gaps)))
    return float(gaps[gaps <= limit].sum())


def _dedupe(step: np.ndarray, time: np.ndarray, value: np.ndarray) -> Series:
    """Sort by step keeping the last row of each step (a resumed job repeats steps)."""
    if len(step) < 2 or bool((np.diff(step) > 0).all()):
        return Series(step, time, value)
    rev = step[::-1]
    _, first = np.unique(rev, return_index=True)
    keep = len(step) - 1 - first
    return Series(step[keep], time[keep], value[keep])


def merge(old: Series | None, new: Series) -> Series:
    """Append newer rows to a series; newer rows win on repeated steps."""
    if old is None or not len(old):
        return _dedupe(new.step, new.time, new.value)
    if not len(new):
        return old
    return _dedupe(np.concatenate([old.step, new.step]), np.concatenate([old.time, new.time]),
                   np.concatenate([old.value, new.value]))


def group_rows(rows: Records) -> dict[str, Series]:
    """Rows in file order -> one series per key that has rows."""
    out: dict[str, Series] = {}
    if not len(rows):
        return out
    order = np.argsort(rows.code, kind="stable")
    codes = rows.code[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    for chunk in np.split(order, bounds):
        key = rows.keys[rows.code[chunk[0]]]
        out[key] = _dedupe(rows.step[chunk], rows.time[chunk], rows.value[chunk])
    return out


@dataclass
class _Entry:
    offset: int = 0
    head: bytes = b""
    series: dict[str, Series] = field(default_factory=dict)


class MetricsCache:
    """Incremental reader of metrics files: each call reads only the new records.

    keys: the metrics to keep (None = all). folder: where to keep the parsed series between
    commands (one .npz per file); None keeps them in memory only.
    """

    def __init__(self, keys: Iterable[str] | None = None, folder: str | Path | None = None):
        self.keys = None if keys is None else tuple(dict.fromkeys(keys))
        self.folder = Path(folder) if folder else None
        self._entries: dict[Path, _Entry] = {}
        self._lock = threading.Lock()   # read() may run in several threads (collect does)
        self.bytes_read = 0  # parsed since creation; lets tests and benches see increments

    def _cache_file(self, path: Path) -> Path:
        assert self.folder is not None
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:16]
        return self.folder / f"{digest}.npz"

    def _load(self, path: Path) -> _Entry:
        if self.folder is None or not self._cache_file(path).exists():
            return _Entry()
        try:
            with np.load(self._cache_file(path), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta["path"] != str(path) or meta["keys"] != (
                        None if self.keys is None else list(self.keys)):
                    return _Entry()
                series = {k: Series(z[f"s{i}_step"], z[f"s{i}_time"], z[f"s{i}_value"])
                          for i, k in enumerate(meta["series"])}
            return _Entry(meta["offset"], bytes.fromhex(meta["head"]), series)
        except (OSError, ValueError, KeyError):
            return _Entry()  # a damaged cache is only a slower report

    def _save(self, path: Path, entry: _Entry) -> None:
        if self.folder is None:
            return
        meta = {"path": str(path), "offset": entry.offset, "head": entry.head.hex(),
                "keys": None if self.keys is None else list(self.keys),
                "series": list(entry.series)}
        arrays = {"meta": np.array(json.dumps(meta))}
        for i, s in enumerate(entry.series.values()):
            arrays.update({f"s{i}_step": s.step, f"s{i}_time": s.time, f"s{i}_value": s.value})
        # Renamed into place but not fsynced: a cache lost in a crash only costs a re-read.
        target = self._cache_file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{target.name}.{os.getpid()}")
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, target)

    def read(self, path: str | Path) -> dict[str, Series]:
        """All series of a run's metrics file so far ({} if nothing was logged yet); a missing
        `path` is read as the legacy metrics.csv beside it when there is one."""
        path = Path(source(path) or path).absolute()
        with self._lock:
            entry = self._entries.get(path)
        entry = entry or self._load(path)
        try:
            size = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(_HEAD)
        except FileNotFoundError:
            with self._lock:
                self._entries.pop(path, None)
            return {}
        if size < entry.offset or head[:len(entry.head)] != entry.head:
            entry = _Entry()
        if size > entry.offset:
            before = entry.offset
            rows, offset = read_records(path, entry.offset, self.keys)
            new = group_rows(rows)
            for key, series in new.items():
                entry.series[key] = merge(entry.series.get(key), series)
            entry.offset = offset
            entry.head = head[:min(_HEAD, offset)]
            with self._lock:
                self.bytes_read += offset - before
            if offset > before:
                self._save(path, entry)
        with self._lock:
            self._entries[path] = entry
        return entry.series


# ----------------------------------------------------------------------------- run records
