"""Shared pieces for the report and status tests: real run folders with composed RunSpecs.

Specs come from the real Hydra configs (tests/compose.py) with RAVEJOBS_ROOT pointing at a
temporary folder; metrics are written by the real MetricsWriter, with chosen timestamps so
curves and wall times are known.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ravejobs.config import RunSpec
from ravejobs.metrics import MetricsWriter
from ravejobs.model.phases import beta_at
from ravejobs.rundir import RunDir

T0 = 1_764_000_000.0
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = ("chromium not installed (Debian: apt-get install chromium); the report page "
               "cannot be opened in a browser here")


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,2000", *args],
        capture_output=True, text=True, timeout=120)


def open_in_chromium(page: Path, profile: Path, shot: Path) -> str:
    """The DOM of `page` after its scripts ran; a screenshot written to `shot` (the test's own
    folder, kept by pytest for the last runs: look there when a page looks wrong)."""
    url = page.resolve().as_uri()
    dom = _chromium(["--virtual-time-budget=5000", "--dump-dom", url], profile)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot.unlink(missing_ok=True)
    done = _chromium([f"--screenshot={shot}", url], profile)
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]
    return dom.stdout


def spec_at(root: Path, *overrides: str) -> RunSpec:
    """A composed RunSpec whose storage root is `root`."""
    from compose import compose_spec

    old = os.environ.get("RAVEJOBS_ROOT")
    os.environ["RAVEJOBS_ROOT"] = str(root)
    try:
        return compose_spec(["dataset=demo", *overrides])
    finally:
        if old is None:
            os.environ.pop("RAVEJOBS_ROOT", None)
        else:
            os.environ["RAVEJOBS_ROOT"] = old


def train_run(spec: RunSpec, steps: int | None = None, every: int = 2, dt: float = 3.0,
              status: str = "finished", start: float = T0, gap_after: int | None = None,
              gap_s: float = 0.0, final: float = 1.0) -> RunDir:
    """A train run folder with distance (falling to about `final`), fidelity and phase rows.

    `gap_after`: a step after which the clock jumps by `gap_s` (a requeued job's queue wait).
    """
    run = RunDir.for_spec(spec, "train")
    run.create(spec)
    steps = spec.phase.max_steps if steps is None else steps
    writer = MetricsWriter(run.metrics_file)
    clock = start
    for step in range(every, steps + 1, every):
        clock += dt * every
        if gap_after is not None and step == gap_after + every:
            clock += gap_s
        values = {"distance": final + 5.0 * np.exp(-step / 20.0), "beta": beta_at(spec.kl, step),
                  "phase": float(step > spec.phase.warmup), "steps_per_s": 1.0 / dt}
        if step % 10 == 0:
            values.update({"validation": values["distance"] * 1.1, "fidelity_95": 5.0})
        writer.log(step, values, when=clock)
    writer.close()
    phase = "gan" if steps > spec.phase.warmup else "vae"
    run.update_state(status=status, stage="train", phase=phase, step=steps,
                     max_steps=spec.phase.max_steps, started=start)
    return run


def prior_run(spec: RunSpec, steps: int | None = None, status: str = "finished") -> RunDir:
    run = RunDir.for_spec(spec, "prior")
    run.create(spec)
    steps = spec.prior.max_steps if steps is None else steps
    writer = MetricsWriter(run.metrics_file)
    for step in range(1, steps + 1):
        writer.log(step, {"prior_loss": 3.0 / step, "steps_per_s": 2.0}, when=T0 + 2 * step)
        if step % 10 == 0:
            writer.log(step, {"prior_val_loss": 3.5 / step}, when=T0 + 2 * step)
    writer.close()
    run.update_state(status=status, stage="prior", phase="prior", step=steps,
                     max_steps=spec.prior.max_steps, started=T0)
    return run
