"""Provenance: which code and which libraries made a run, and how a fresh clone runs it again.

A bottom-layer module (no torch import, no run-folder logic beyond one atomic write): the job
header calls `git_revision`, `versions_line` and `record`; `reproducible_overrides` rewrites a
sweep point's overrides so that they need nothing a fresh clone of the repository lacks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ravejobs.atomic import atomic_write_json
from ravejobs.config import DatasetSpec

SOURCE = Path(__file__).resolve().parents[1]
# distribution names whose versions change results or behaviour
PACKAGES = ("torch", "pytorch-lightning", "lightning", "submitit", "hydra-core", "omegaconf",
            "numpy", "soundfile", "soxr")
SHORT = {"pytorch-lightning": "lightning", "hydra-core": "hydra"}


def versions() -> dict[str, str]:
    """Installed versions (from package metadata: torch is not imported), plus python's."""
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[SHORT.get(name, name)] = version(name)
        except PackageNotFoundError:
            continue
    try:
        found["ravejobs"] = version("ravejobs")
    except PackageNotFoundError:
        pass
    return found


def versions_line() -> str:
    """`torch 2.13.0+cpu, lightning 2.6.6, submitit 1.5.4, hydra 1.3.8, ...` for the header."""
    v = versions()
    order = ("torch", "lightning", "submitit", "hydra", "omegaconf", "numpy", "python")
    return ", ".join(f"{k} {v[k]}" for k in order if k in v)


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()


def git_state(tree: str | Path | None = None) -> dict[str, Any]:
    """commit, tracked files changed, and untracked (not ignored) files under conf/.

    An untracked config file (a new conf/dataset/mine.yaml) changes what a sweep composes as
    much as an edited one, and a fresh clone lacks it: it makes the revision dirty too.
    """
    tree = Path(tree) if tree else SOURCE
    commit = _git(tree, "rev-parse", "--short=12", "HEAD")
    changed = [ln for ln in _git(tree, "status", "--porcelain", "--untracked-files=no")
               .splitlines() if ln.strip()]
    untracked = _git(tree, "ls-files", "--others", "--exclude-standard", "--", "conf").splitlines()
    return {"commit": commit, "changed": len(changed),
            "untracked_config": [u for u in untracked if u.strip()]}


def git_revision(tree: str | Path | None = None) -> str:
    """`<commit> (clean)` or `<commit> (dirty: N files changed, M untracked config files)`."""
    tree = Path(tree) if tree else SOURCE
    try:
        state = git_state(tree)
    except (OSError, subprocess.SubprocessError):
        try:
            return f"not a git checkout ({tree}); ravejobs {version('ravejobs')}"
        except PackageNotFoundError:
            return f"not a git checkout ({tree})"
    parts = []
    if state["changed"]:
        parts.append(f"{state['changed']} files changed")
    if state["untracked_config"]:
        parts.append(f"{len(state['untracked_config'])} untracked config files")
    return f"{state['commit']} (dirty: {', '.join(parts)})" if parts else \
        f"{state['commit']} (clean)"


def record(run_path: str | Path, code: str) -> dict[str, Any]:
    """Write `<run>/provenance.json` (atomically) at each start: code revision and versions."""
    data: dict[str, Any] = {"code": code, "dirty": "(dirty" in code, "versions": versions()}
    try:
        data["untracked_config"] = git_state()["untracked_config"]
    except (OSError, subprocess.SubprocessError):
        data["untracked_config"] = []
    atomic_write_json(Path(run_path) / "provenance.json", data)
    return data


def _shipped(group: str, option: str, tree: Path = SOURCE) -> bool:
    """Whether conf/<group>/<option>.yaml is committed (a fresh clone has it)."""
    rel = f"conf/{group}/{option}.yaml"
    try:
        return bool(_git(tree, "ls-files", "--", rel))
    except (OSError, subprocess.SubprocessError):
        return (tree / rel).is_file()


def hydra_value(value: str) -> str:
    """A value as Hydra's override grammar reads it back unchanged (quoted when not plain)."""
    if re.fullmatch(r"[\w./:@~+-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dataset_overrides(d: DatasetSpec) -> list[str]:
    """The corpus spelled out on `dataset=custom`, needing no config file."""
    return ["dataset=custom", f"dataset.name={hydra_value(d.name)}", f"dataset.id={d.id}",
            f"dataset.label={hydra_value(d.label)}", f"dataset.hours={d.hours:g}",
            f"dataset.raw={hydra_value(d.raw)}", f"dataset.packed={hydra_value(d.packed)}",
            f"dataset.sr={d.sr}", f"dataset.augment={str(d.augment).lower()}"]


def reproducible_overrides(overrides: Iterable[str], d: DatasetSpec,
                           tree: Path = SOURCE) -> list[str]:
    """`overrides` with a `dataset=<option>` that a fresh clone lacks replaced by its values."""
    out: list[str] = []
    for o in overrides:
        key, _, value = o.partition("=")
        if key.lstrip("+~") == "dataset" and value and not _shipped("dataset", value, tree):
            out += [x for x in dataset_overrides(d) if x not in out]
        else:
            out.append(o)
    return out
