"""One checkpoint scheme for every stage with steps (train and prior): names, rotation, resume.

    checkpoints/last.ckpt           the newest: periodic, at a stop or a requeue, at the end
    checkpoints/last-<step>.ckpt    older ones, only when train.keep_last > 1 (pruned to keep_last)
    checkpoints/<name>.ckpt         named states that are never pruned (phase-vae-end.ckpt)

Every write is atomic (`atomic.atomic_torch_save`: whole or absent, a full disk in one line).
`last.ckpt` is replaced only once the new file is complete, and older states get a second
name (a hard link) rather than a rename, so the file state.json names always exists. Resume
reads every candidate, skips those that do not load or are not of the caller's format (the
caller's `read`), and takes the highest *stored* step: names and file times never decide, so a
renamed or copied file cannot send a run backwards.

Prior run folders from before this scheme hold `prior-<step>.pt`; they are still read for
resume (`LEGACY`), and removed once a `last.ckpt` has been recorded in state.json.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ravejobs.atomic import atomic_torch_save
from ravejobs.diskfull import as_disk_full

LAST = "last.ckpt"
ROLLING = "last-*.ckpt"
LEGACY = ("prior-*.pt",)  # the prior's names until issue 13: read for resume, then removed

Read = Callable[[Path, bool], "dict[str, Any] | None"]  # (path, lazy) -> checkpoint or None


def load(path: str | os.PathLike[str], lazy: bool = True) -> dict[str, Any] | None:
    """The dict stored at `path` (tensors memory-mapped when `lazy`), None if it does not load.

    `weights_only`: a checkpoint is tensors, numbers, strings and containers, nothing to run.
    """
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=lazy)
    except Exception:  # truncated, corrupt, not a torch file: not a candidate
        return None
    return ckpt if isinstance(ckpt, dict) and isinstance(ckpt.get("step"), int) else None


def candidates(folder: str | os.PathLike[str]) -> list[Path]:
    """Every file that may hold a checkpoint: `*.ckpt` and the legacy names."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = set(folder.glob("*.ckpt"))
    for pattern in LEGACY:
        found.update(folder.glob(pattern))
    return sorted(p for p in found if p.is_file())


def newest_valid(folder: str | os.PathLike[str], read: Read,
                 log: Callable[[str], Any] | None = None) -> tuple[Path, dict[str, Any]] | None:
    """(path, checkpoint) with the highest stored step among readable ones; None if none.

    On a tie `last.ckpt` wins (it may carry a later reason, e.g. "finished"). `log` hears of
    every file skipped as unreadable.
    """
    best: tuple[Path, dict[str, Any]] | None = None
    for path in candidates(folder):
        ckpt = read(path, True)
        if ckpt is None:
            if log is not None:
                log(f"skipping unreadable checkpoint {path}")
            continue
        if best is None or ckpt["step"] > best[1]["step"] or (
                ckpt["step"] == best[1]["step"] and path.name == LAST):
            best = (path, ckpt)
    return best


def write(path: Path, payload: dict[str, Any]) -> Path:
    """Atomic torch.save; a full disk is raised as one `DiskFull` line (path, free space)."""
    try:
        return atomic_torch_save(path, payload)
    except Exception as err:
        full = as_disk_full(err, path)
        if full is not None:
            raise full from err
        raise


def save_last(folder: str | os.PathLike[str], payload: dict[str, Any],
              keep_last: int = 1) -> Path:
    """Write `last.ckpt`; keep at most `keep_last` rolling states, newest by stored step."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    last = folder / LAST
    if keep_last > 1 and last.exists():
        old = load(last)
        if old is not None and old["step"] != payload["step"]:
            # A second name for the old file, not a rename: last.ckpt stays whole (and is what
            # state.json names) until the new one has been written in full and renamed over it.
            _second_name(last, folder / f"last-{old['step']:09d}.ckpt")
    write(last, payload)
    prune(folder, keep_last)
    return last


def save_named(folder: str | os.PathLike[str], name: str, payload: dict[str, Any]) -> Path:
    """A named state outside the rotation (e.g. the end of the VAE phase)."""
    return write(Path(folder) / name, payload)


def _second_name(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)  # no space needed; the file system must allow hard links
    except OSError:
        shutil.copyfile(source, target)


def prune(folder: Path, keep_last: int) -> list[Path]:
    """Delete rolling `last-*.ckpt` beyond the newest `keep_last - 1` (by stored step)."""
    rolling = []
    for path in folder.glob(ROLLING):
        ckpt = load(path)
        rolling.append((ckpt["step"] if ckpt else -1, path))
    rolling.sort(reverse=True)
    removed = [path for _, path in rolling[max(keep_last - 1, 0):]]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def drop_legacy(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove legacy-named checkpoints once `last.ckpt` exists (call after state.json names
    it, so state.json never names a removed file)."""
    folder = Path(folder)
    if not (folder / LAST).is_file():
        return []
    gone = [p for pattern in LEGACY for p in folder.glob(pattern)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone
