"""The sweep manifest: which runs a sweep holds and which job runs each, written atomically.

`<storage.root>/sweeps/<sweep_id>/manifest.json`, run paths relative to the storage root (the
root is where the manifest lies, so a moved root just works). The sweep id hashes the (stage,
signature) of every run, so the same sweep typed twice finds the same manifest and updates it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ravejobs.atomic import atomic_write_json
from ravejobs.rootpaths import from_root, to_root


@dataclass
class ManifestRun:
    name: str
    signature: str
    stage: str
    path: str
    job_id: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.stage, self.signature)


@dataclass
class Manifest:
    sweep_id: str
    root: str
    cluster: str
    executor: str
    created: float = field(default_factory=time.time)
    user: str = field(default_factory=getpass.getuser)
    command: str = field(default_factory=lambda: " ".join(sys.argv))
    runs: list[ManifestRun] = field(default_factory=list)
    submissions: list[dict] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return Path(self.root) / "sweeps" / self.sweep_id

    @property
    def path(self) -> Path:
        return self.folder / "manifest.json"

    def save(self) -> Path:
        """Written with run paths relative to the storage root (see ravejobs.rootpaths)."""
        data = asdict(self)
        for run in data["runs"]:
            run["path"] = to_root(run["path"], self.root)
        return atomic_write_json(self.path, data)

    def run(self, stage: str, signature: str) -> ManifestRun | None:
        return next((r for r in self.runs if r.key == (stage, signature)), None)

    def add_run(self, run: ManifestRun) -> ManifestRun:
        existing = self.run(run.stage, run.signature)
        if existing is None:
            self.runs.append(run)
            return run
        return existing

    @classmethod
    def from_file(cls, path: str | Path) -> Manifest:
        """Load; the storage root is where the file lies (`<root>/sweeps/<id>/manifest.json`),
        so a copied root works in place and nothing is written under the old one."""
        path = Path(path).absolute()
        data = json.loads(path.read_text())
        stored = str(data.get("root", ""))
        root = str(path.parents[2]) if path.parent.parent.name == "sweeps" else stored
        data["root"] = root
        data["runs"] = [ManifestRun(**{**r, "path": from_root(r["path"], root, stored)})
                        for r in data.get("runs", [])]
        return cls(**data)

    @classmethod
    def load(cls, ref: str | Path) -> Manifest:
        """A sweep by id (under $RAVEJOBS_ROOT/sweeps), folder, manifest path, or `latest`."""
        return cls.from_file(find_manifest(ref))


def sweep_id(keys: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha1(json.dumps(sorted(set(keys))).encode()).hexdigest()[:8]
    return f"sweep-{digest}"


def default_root() -> Path:
    """Where `ravejobs status` looks for sweeps when given only an id."""
    if os.environ.get("RAVEJOBS_ROOT"):
        return Path(os.environ["RAVEJOBS_ROOT"])
    user = os.environ.get("USER", "user")
    hits = sorted(Path.home().glob(f"projects/*/{user}/ravejobs"))
    return hits[0] if hits else Path.home() / "projects" / "local" / user / "ravejobs"


def find_manifest(ref: str | Path) -> Path:
    path = Path(ref)
    if path.is_file():
        return path
    if (path / "manifest.json").is_file():
        return path / "manifest.json"
    sweeps = default_root() / "sweeps"
    if str(ref) == "latest":
        found = sorted(sweeps.glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    elif (sweeps / str(ref) / "manifest.json").is_file():
        return sweeps / str(ref) / "manifest.json"
    raise FileNotFoundError(
        f"no sweep {ref!r}: give a sweep id from {sweeps}, a sweep folder or a manifest.json"
    )
