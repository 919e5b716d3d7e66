"""Atomic file writes: write a sibling temporary file, fsync, then rename over the target.

A reader (or a requeued job) sees the old file or the new one, never half of one. The
temporary file has one fixed name per target, `.tmp-<name>`, so a job killed mid-write leaves
at most that one file, which the next write of the same target replaces (and a failed write
removes). Files are created with mode 0666 less the user's umask, like any other file: with
umask 022 the lab can read them, with 002 the group can also write (docs/admins.md);
`mkstemp`'s private 0600 would hide corpora, checkpoints and reports from a shared project space.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TMP_PREFIX = ".tmp-"


def temp_path(target: str | os.PathLike[str]) -> Path:
    """The one temporary name of `target`'s atomic writes."""
    target = Path(target)
    return target.with_name(f"{TMP_PREFIX}{target.name}")


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call `write(fileobj)` on a temporary file beside `path`, then rename it to `path`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    tmp.unlink(missing_ok=True)  # a stale one from a killed write: replaced, not reused
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    mine = os.fstat(fd).st_ino
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if _inode(tmp) != mine:  # another writer of the same target took the name meanwhile
            raise FileExistsError(f"{target}: written by two processes at once; try again")
        os.replace(tmp, target)
    except BaseException:
        if _inode(tmp) == mine:  # ours: remove it (never another writer's)
            tmp.unlink(missing_ok=True)
        raise
    return target


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the atomic-write temporaries under `folder` (a job's start: none is in use).

    Targets whose name changes (step-numbered checkpoints) are never written again, so their
    temporary from a killed write would otherwise stay.
    """
    gone = [p for p in Path(folder).rglob(f"{TMP_PREFIX}*") if p.is_file()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(path: str | os.PathLike[str], obj: Any) -> Path:
    """torch.save through a temporary file, so a checkpoint is whole or absent."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))
