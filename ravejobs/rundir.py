"""The run folder on project storage: where a run's spec, state, checkpoints and metrics live.

    <storage.root>/runs/<name>.<signature>/
        spec.json         the RunSpec that made it (never rewritten with a different signature)
        state.json        status, stage, phase, step / budget, job id, last checkpoint (atomic)
        checkpoints/      last.ckpt, phase-boundary checkpoints (atomic, pruned)
        metrics.csv       append-only `step,time,key,value` rows (see ravejobs.metrics)
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

from ravejobs.atomic import atomic_write_json, remove_stale_temps
from ravejobs.config import RunSpec
from ravejobs.naming import run_dirname, run_name, signature

# "blocked": never ran because what it consumes failed (or was itself blocked)
STATUSES = ("pending", "submitted", "running", "requeued", "finished", "failed", "blocked")


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
        folder = "data" if stage == "prepare" else "runs"
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
    metrics_file = property(lambda self: self.path / "metrics.csv")
    tb = property(lambda self: self.path / "tb")
    logs = property(lambda self: self.path / "logs")
    export = property(lambda self: self.path / "export")

    def spec(self) -> RunSpec:
        return RunSpec.from_dict(json.loads(self.spec_file.read_text()))

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
        if not self.state_file.exists():
            return RunState(stage=self.stage)
        data = json.loads(self.state_file.read_text())
        known = {k: v for k, v in data.items() if k in RunState.__dataclass_fields__}
        return RunState(**known)

    def write_state(self, state: RunState) -> RunState:
        state = replace(state, updated=time.time())
        atomic_write_json(self.state_file, asdict(state))
        return state

    def update_state(self, **changes: Any) -> RunState:
        return self.write_state(replace(self.state(), **changes))


def shown_status(run: RunDir, state: RunState | None = None) -> str:
    """The status `status` and `report` both show: a run that has not run while what it
    consumes failed (or is blocked itself) is "blocked", whatever its state.json still says."""
    from ravejobs.stages import predecessor

    state = state or run.state()
    if state.status not in ("pending", "submitted", "blocked"):
        return state.status
    try:
        prev = predecessor(run.stage, run.spec())
        before = RunDir.for_spec(run.spec(), prev) if prev else None
    except (OSError, KeyError, TypeError, ValueError):
        return state.status
    if before is not None and before.state_file.exists() and \
            shown_status(before) in ("failed", "blocked"):
        return "blocked"
    return "pending" if state.status == "blocked" else state.status
