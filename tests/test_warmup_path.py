"""`phase.warmup` from the command line to the step that switches phase (docs/architecture.md,
"Following phase.warmup"): the value arrives unchanged, and only the documented files hold it.

The trace records, for every frame of the project's own code, whether a local variable holds the
value (a number no other setting has), from the validated sweep point through spec.json to the
built module's PhaseSchedule. A new file that copies the value on its way fails the test: add it
to the path in docs/architecture.md, or pass the spec instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from compose import compose_plain

from ravejobs.config import build_runspecs
from ravejobs.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 4321  # written 4.321e3 on the command line: a float Hydra parses, an int the model gets
# The files whose code holds the value on its way to the switch (docs/architecture.md);
# rules.py and naming.py read it on the side (a check, the signature).
VALUE_PATH = {"ravejobs/config/reader.py", "ravejobs/config/build.py",
              "ravejobs/model/v2/__init__.py", "ravejobs/model/module.py",
              "ravejobs/model/phases.py"}
SIDE_READS = {"ravejobs/config/rules.py", "ravejobs/naming.py"}
CPU = {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto", "plugins": []}


def _holders(seen: set[str]):
    def tracer(frame, event, arg):
        name = frame.f_code.co_filename
        if not name.startswith(str(ROOT / "ravejobs")):
            return None

        def line(frame, event, arg):
            if any(type(v) in (int, float) and v == WARMUP for v in frame.f_locals.values()):
                seen.add(Path(frame.f_code.co_filename).relative_to(ROOT).as_posix())
            return line
        return line
    return tracer


def test_warmup_reaches_the_phase_switch_unchanged_through_the_documented_files(
        tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    overrides = ["dataset=demo", "phase.warmup=4.321e3", "dry_run=true"]
    cfg = compose_plain(overrides)
    assert cfg["phase"]["warmup"] == 4321.0 and isinstance(cfg["phase"]["warmup"], float)
    from ravejobs.jobs.runner import Cadence
    from ravejobs.jobs.session import TrainSession

    cadence = Cadence(1000, 30.0, lambda reason: None)  # the runner's; nothing saves here
    seen: set[str] = set()
    sys.settrace(_holders(seen))
    try:
        [spec] = build_runspecs([(cfg, overrides)])        # the launch edge
        run = RunDir.for_spec(spec, "train")
        run.create(spec)                                     # spec.json: what the node reads
        session = TrainSession(run.spec(), run, None, None, hardware=CPU, cadence=cadence)
        phases = session.model.phases
        switch = [phases.of_iteration(s) for s in (WARMUP - 1, WARMUP)]
    finally:
        sys.settrace(None)
    assert type(phases.warmup) is int and phases.warmup == WARMUP
    assert switch == ["vae", "gan"]
    assert seen - SIDE_READS == VALUE_PATH, sorted(seen)
