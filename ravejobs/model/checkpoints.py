"""Checkpoint files of a training run: atomic writes, rolling `last`, phase boundaries, resume.

    last.ckpt            newest rolling checkpoint (every N steps / minutes, on demand, at the end)
    last-<step>.ckpt     older rolling ones, only when train.keep_last > 1 (pruned to keep_last)
    phase-vae-end.ckpt   the state at step == warmup (never pruned)

Resume reads every `*.ckpt`, skips any that does not load or lacks the required keys (a file
cut short by a crash, a stray copy), and takes the highest *stored* step; names and file times
never decide, so a renamed or copied file cannot send a run backwards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ravejobs.atomic import atomic_torch_save
from ravejobs.diskfull import as_disk_full

FORMAT = "ravejobs.rave/1"
LAST = "last.ckpt"
PHASE_END = "phase-vae-end.ckpt"
REQUIRED = ("format", "step", "phase", "state_dict", "optimizers", "spec", "signature")


def read(path: str | os.PathLike[str], lazy: bool = True) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None if it does not load or is not one of ours.

    `lazy` memory-maps tensors, so scanning a folder of large files costs little.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=lazy)
    except Exception:  # truncated, corrupt, not a torch file: not a candidate
        return None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        return None
    if ckpt["format"] != FORMAT or not isinstance(ckpt["step"], int):
        return None
    return ckpt


def newest_valid(folder: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]] | None:
    """(path, checkpoint) with the highest stored step among loadable files; None if none."""
    best: tuple[Path, dict[str, Any]] | None = None
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.ckpt")):
        ckpt = read(path)
        if ckpt is None:
            continue
        # On a tie prefer `last.ckpt` (it may carry a later reason, e.g. "finished").
        if best is None or ckpt["step"] > best[1]["step"] or (
                ckpt["step"] == best[1]["step"] and path.name == LAST):
            best = (path, ckpt)
    return best


def save_rolling(folder: str | os.PathLike[str], payload: dict[str, Any],
                 keep_last: int = 1) -> Path:
    """Write `last.ckpt` atomically; keep at most `keep_last` rolling files, newest by step."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    last = folder / LAST
    if keep_last > 1 and last.exists():
        old = read(last)
        if old is not None and old["step"] != payload["step"]:
            # A second name for the old file, not a rename: last.ckpt stays whole (and is what
            # state.json names) until the new one has been written in full and renamed over it.
            _keep_copy(last, folder / f"last-{old['step']:09d}.ckpt")
    write(last, payload)
    prune(folder, keep_last)
    return last


def write(path: Path, payload: dict[str, Any]) -> Path:
    """Atomic torch.save; a full disk is raised as one `DiskFull` line (path, free space)."""
    try:
        return atomic_torch_save(path, payload)
    except Exception as err:
        full = as_disk_full(err, path)
        if full is not None:
            raise full from err
        raise


def _keep_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)  # no space needed; the file system must allow hard links
    except OSError:
        shutil.copyfile(source, target)


def prune(folder: Path, keep_last: int) -> list[Path]:
    """Delete rolling `last-*.ckpt` beyond the newest `keep_last - 1` (by stored step)."""
    rolling = []
    for path in folder.glob("last-*.ckpt"):
        ckpt = read(path)
        rolling.append((ckpt["step"] if ckpt else -1, path))
    rolling.sort(reverse=True)
    removed = [path for _, path in rolling[max(keep_last - 1, 0):]]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def save_phase_end(folder: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    return write(Path(folder) / PHASE_END, payload)
