"""A write that failed because the disk (or the quota) is full, said in one line.

torch's zip writer reports a full disk as `RuntimeError: [enforce fail at inline_container.cc]
... unexpected pos`, with "No space left on device" only deep in a chained traceback, if at all.
`DiskFull` names the path and the free space instead; the runner puts that line in the log
footer, state.json and so `ravejobs status`. Bottom layer: imports nothing of ravejobs.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Messages of writers that lose the errno (torch's zip writer on a short write).
FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "unexpected pos")
LOW_SPACE = 64 * 1024**2  # below this, a failed write with no errno is taken for a full disk


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        return shutil.disk_usage(where).free
    except OSError:
        return None


def human(size: int | None) -> str:
    if size is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"


class DiskFull(OSError):
    """Writing `path` failed for lack of space; `free` bytes were left."""

    def __init__(self, path: str | os.PathLike[str], free: int | None):
        super().__init__(errno.ENOSPC, "No space left on device", str(path))
        self.path, self.free = str(path), free

    def __str__(self) -> str:
        return (f"disk full writing {self.path}: no space left on device ({human(self.free)} "
                "free there); free some space or move the storage root, then run the stage "
                "again: it resumes from the last checkpoint")


def _chain(err: BaseException):
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__  # type: ignore[assignment]


def as_disk_full(err: BaseException, path: str | os.PathLike[str]) -> DiskFull | None:
    """A DiskFull for `err` when it (or what caused it) is a full disk at `path`, else None."""
    for link in _chain(err):
        if isinstance(link, DiskFull):
            return link
        if isinstance(link, OSError) and link.errno in FULL_ERRNOS:
            return DiskFull(link.filename or path, free_bytes(link.filename or path))
    free = free_bytes(path)
    texts = " ".join(str(link) for link in _chain(err))
    if any(t in texts for t in FULL_TEXTS[:2]) or (
            FULL_TEXTS[2] in texts and free is not None and free < LOW_SPACE):
        return DiskFull(path, free)
    return None


def describe(err: BaseException, path: str | os.PathLike[str]) -> str:
    """One line for a failure: the disk-full line when it is one, else `Type: message`."""
    full = as_disk_full(err, path)
    if full is not None:
        return f"DiskFull: {full}"
    return f"{type(err).__name__}: {err}"
