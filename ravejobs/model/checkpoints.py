"""RAVE's checkpoint format, kept in the one checkpoint scheme (`ravejobs/checkpoint_files.py`).

    last.ckpt            newest rolling checkpoint (every N steps / minutes, on demand, at the end)
    last-<step>.ckpt     older rolling ones, only when train.keep_last > 1 (pruned to keep_last)
    phase-vae-end.ckpt   the state at step == warmup (never pruned)

Resume takes the loadable checkpoint of this format with the highest stored step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ravejobs import checkpoint_files as files

FORMAT = "ravejobs.rave/1"
LAST = files.LAST
PHASE_END = "phase-vae-end.ckpt"
REQUIRED = ("format", "step", "phase", "state_dict", "optimizers", "spec", "signature")


def read(path: str | os.PathLike[str], lazy: bool = True) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None if it does not load or is not one of ours.

    `lazy` memory-maps tensors, so scanning a folder of large files costs little.
    """
    ckpt = files.load(path, lazy)
    if ckpt is None or any(k not in ckpt for k in REQUIRED) or ckpt["format"] != FORMAT:
        return None
    return ckpt


def newest_valid(folder: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]] | None:
    """(path, checkpoint) with the highest stored step among loadable files; None if none."""
    return files.newest_valid(folder, read)


def save_rolling(folder: str | os.PathLike[str], payload: dict[str, Any],
                 keep_last: int = 1) -> Path:
    """Write `last.ckpt` atomically; keep at most `keep_last` rolling files, newest by step."""
    return files.save_last(folder, payload, keep_last)


def save_phase_end(folder: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    return files.save_named(folder, PHASE_END, payload)
