"""What the launcher checks on this machine before planning: files and the environment.

The config's schema and rules are pure (`ravejobs.config`); what depends on where the launch
runs is checked here, once, at the launch edge (`sweep.launch_sweep`): that the corpus is
there to prepare or train on, and that project storage is not under this machine's $SCRATCH or
$SLURM_TMPDIR. The free-space check of the storage root is `ravejobs.diskcheck`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ravejobs.config import RunSpec
from ravejobs.config.rules import SCRATCH_MARKERS, volatile_root_problems


def corpus_problems(spec: RunSpec, dry_run: bool) -> list[str]:
    """A stage that reads audio needs the raw folder or the packed store (not on a dry run)."""
    d = spec.dataset
    if dry_run or d.generate or spec.stage not in ("all", "prepare", "train"):
        return []
    if Path(d.raw).is_dir() or Path(d.packed).is_dir():
        return []
    return [f"dataset.raw={d.raw}: no such folder (and no packed store at {d.packed}); "
            "set storage.data_root or dataset.raw to where the audio is"]


def environment_problems(spec: RunSpec) -> list[str]:
    """Project storage under this machine's purged or node-local space."""
    if volatile_root_problems(spec.storage, {m: m for m in SCRATCH_MARKERS}):
        return []  # the rules said so already
    env = {f"${name}": os.environ.get(name, "") for name in ("SCRATCH", "SLURM_TMPDIR")}
    return volatile_root_problems(spec.storage, env)


def launch_problems(points: Iterable[tuple[RunSpec, bool]]) -> list[str]:
    """Every probe's problem for each (spec, dry run), prefixed like the config's problems."""
    problems: list[str] = []
    for spec, dry_run in points:
        where = " ".join(spec.overrides) or "(defaults)"
        problems += [f"[{where}] {p}" for p in
                     corpus_problems(spec, dry_run) + environment_problems(spec)]
    return list(dict.fromkeys(problems))
