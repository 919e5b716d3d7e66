"""Paths in run records are kept relative to the storage root, so a root can move.

A lab moves its storage root (a full scratch, a new allocation) by copying it and pointing
`RAVEJOBS_ROOT` at the copy. Manifests and state files therefore store paths under the root as
relative paths, and resolve them against wherever the record lies now; absolute paths written
by older versions (or a spec.json, which keeps the paths it was launched with) are re-rooted
from the root they name to the current one.
"""

from __future__ import annotations

import os
from pathlib import Path


def to_root(value: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """`value` relative to `root` when it lies under it (posix text); otherwise unchanged."""
    text = str(value)
    if not text or not os.path.isabs(text):
        return text
    try:
        return Path(text).relative_to(Path(root)).as_posix()
    except ValueError:
        return text


def from_root(value: str, root: str | os.PathLike[str], old_root: str | None = None) -> str:
    """An absolute path for a stored one: relative ones join `root`; absolute ones under
    `old_root` (where the record was written) move to `root`; others stay as they are."""
    if not value:
        return value
    if not os.path.isabs(value):
        return str(Path(root) / value)
    return moved(value, old_root, root) if old_root else value


def moved(value: str, old_root: str | os.PathLike[str] | None,
          new_root: str | os.PathLike[str]) -> str:
    """`value` under `old_root` re-rooted to `new_root`; anything else unchanged."""
    if not value or not old_root or str(old_root) == str(new_root):
        return value
    try:
        rest = Path(value).relative_to(Path(old_root))
    except ValueError:
        return value
    return str(Path(new_root) / rest)
