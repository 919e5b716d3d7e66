"""The run folder on project storage: where a run's spec, state, checkpoints and metrics live.

    <storage.root>/runs/<name>.<signature>/
        spec.json         the RunSpec that made it (never rewritten with a different signature;
                          read back re-rooted to where the folder lies now)
        state.json        status, stage, phase, step / budget, job id, last checkpoint (atomic;
                          paths relative to the storage root, so the root can move)
        checkpoints/      last.ckpt, phase-boundary checkpoints (atomic, pruned)
        metrics.bin       append-only metrics log, keys in metrics.keys (see ravejobs.metrics)
        tb/               TensorBoard events
        logs/             SLURM / submitit logs, named by job and task
        export/           TorchScript files for nn~
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ravejobs import stages
from ravejobs.atomic import atomic_write_json, remove_stale_temps
from ravejobs.config import RunSpec
from ravejobs.naming import run_dirname, run_name, signature
from ravejobs.ranks import is_main_process
from ravejobs.rootpaths import from_root, moved, to_root

# "blocked": never ran because what it consumes failed (or was itself blocked)
# "diverged": training gave non-finite values again after every rollback
STATUSES = ("pending", "submitted", "running", "requeued", "finished", "failed", "blocked",
            "diverged")


@dataclass(frozen=True)
class RunState:
    """What a run folder says about its progress; written atomically by the job."""

    status: str = "pending"
    stage: str = "train"
    phase: str = ""          # "vae", "gan", "prior", "" before start
    step: int = 0
    max_steps: int = 0
    job_id: str = ""
    checkpoint: str = ""
    message: str = ""
    started: float = 0.0
    updated: float = 0.0
    code: str = ""           # git revision of the code at the latest start (job header)
    attempts: dict[str, float | None] = field(default_factory=dict)  # job start: elapsed s
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status == "finished"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run (one stage of one sweep point)."""

    path: Path
    name: str
    signature: str
    stage: str

    @classmethod
    def for_spec(cls, spec: RunSpec, stage: str) -> RunDir:
        folder = stages.stage(stage).folder
        path = Path(spec.storage.root) / folder / run_dirname(spec, stage)
        return cls(path=path, name=run_name(spec, stage), signature=signature(spec, stage),
                   stage=stage)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Reattach to an existing run folder from its run.json."""
        path = Path(path)
        meta = json.loads((path / "run.json").read_text())
        return cls(path=path, name=meta["name"], signature=meta["signature"], stage=meta["stage"])

    spec_file = property(lambda self: self.path / "spec.json")
    state_file = property(lambda self: self.path / "state.json")
    checkpoints = property(lambda self: self.path / "checkpoints")
    metrics_file = property(lambda self: self.path / "metrics.bin")
    tb = property(lambda self: self.path / "tb")
    logs = property(lambda self: self.path / "logs")
    export = property(lambda self: self.path / "export")

    @property
    def root(self) -> Path:
        """The storage root this folder lies in now (`<root>/runs/<run>`, `<root>/data/<run>`)."""
        return self.path.parent.parent

    def spec(self) -> RunSpec:
        """The stored spec, its storage paths re-rooted to where this folder lies now."""
        return reroot(RunSpec.from_dict(json.loads(self.spec_file.read_text())), self.root)

    def create(self, spec: RunSpec) -> None:
        """Make the folder and write its spec once; an existing folder is reused, never wiped.

        The stored spec keeps the original; a differing signature in an existing folder is an
        error, because it would mean two different runs share a folder.
        """
        if (self.path / "run.json").exists():
            existing = json.loads((self.path / "run.json").read_text())
            if existing["signature"] != self.signature:
                raise FileExistsError(
                    f"{self.path} holds signature {existing['signature']}, not {self.signature}"
                )
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for sub in ("checkpoints", "logs"):
            (self.path / sub).mkdir(exist_ok=True)
        atomic_write_json(self.spec_file, spec.to_dict())
        atomic_write_json(self.path / "run.json", {
            "name": self.name, "signature": self.signature, "stage": self.stage,
            "created": time.time(),
        })
        if not self.state_file.exists():
            self.write_state(RunState(stage=self.stage))

    def remove_stale_temps(self) -> list[Path]:
        """At a job's start: the temporaries of atomic writes a killed job left behind."""
        return remove_stale_temps(self.path)

    def state(self) -> RunState:
        """The run's state; checkpoint paths absolute under the folder's current root."""
        if not self.state_file.exists():
            return RunState(stage=self.stage)
        data = json.loads(self.state_file.read_text())
        known = {k: v for k, v in data.items() if k in RunState.__dataclass_fields__}
        old = self._launched_root() if _absolute_paths(known) else None
        known["checkpoint"] = from_root(known.get("checkpoint", ""), self.root, old)
        known["extra"] = {k: from_root(v, self.root, old) if _path_key(k, v) else v
                          for k, v in dict(known.get("extra") or {}).items()}
        return RunState(**known)

    def write_state(self, state: RunState) -> RunState:
        """Written atomically, paths under the storage root stored relative to it."""
        state = replace(state, updated=time.time())
        if not is_main_process():  # one run, one writer: rank 0 of a multi-GPU run
            return state
        data = asdict(state)
        data["checkpoint"] = to_root(data["checkpoint"], self.root)
        data["extra"] = {k: to_root(v, self.root) if _path_key(k, v) else v
                         for k, v in data["extra"].items()}
        atomic_write_json(self.state_file, data)
        return state

    def _launched_root(self) -> str | None:
        """The storage root named in spec.json (where the run was launched), if readable."""
        try:
            return json.loads(self.spec_file.read_text())["storage"]["root"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def update_state(self, **changes: Any) -> RunState:
        return self.write_state(replace(self.state(), **changes))


def _path_key(key: str, value: Any) -> bool:
    """State `extra` entries that hold paths (`model_checkpoint`, `..._path`)."""
    return isinstance(value, str) and key.endswith(("checkpoint", "_path"))


def _absolute_paths(known: dict[str, Any]) -> bool:
    values = [known.get("checkpoint", "")] + [
        v for k, v in dict(known.get("extra") or {}).items() if _path_key(k, v)]
    return any(str(v).startswith("/") for v in values)


def reroot(spec: RunSpec, root: str | Path) -> RunSpec:
    """`spec` with its storage root (and the corpus paths under it) moved to `root`."""
    old, new = spec.storage.root, str(root)
    if old == new:
        return spec
    storage = replace(spec.storage, root=new, data_root=moved(spec.storage.data_root, old, new))
    dataset = replace(spec.dataset, raw=moved(spec.dataset.raw, old, new),
                      packed=moved(spec.dataset.packed, old, new))
    return replace(spec, storage=storage, dataset=dataset)


def shown_status(run: RunDir, state: RunState | None = None) -> str:
    """The status `status` and `report` both show: a run that has not run while what it
    consumes failed (or is blocked itself) is "blocked", whatever its state.json still says."""
    from ravejobs.stages import predecessor

    state = state or run.state()
    if state.status in ("finished", "running", "requeued"):  # it ran: its own status stands
        return state.status
    try:
        prev = predecessor(run.stage, run.spec())
        before = RunDir.for_spec(run.spec(), prev) if prev else None
    except (OSError, KeyError, TypeError, ValueError):
        return state.status
    if before is not None and before.state_file.exists() and \
            shown_status(before) in ("failed", "blocked", "diverged"):
        return "blocked"  # also when `cancel` marked it failed: it never ran
    return "pending" if state.status == "blocked" else state.status
