"""Progress while it trains: the live line's text from a real run folder, silence off a
terminal, and steps/s with ETA in `ravejobs status`."""

from __future__ import annotations

import io
import time

from rich.console import Console
from test_report_helpers import spec_at, train_run

from ravejobs.cli import main
from ravejobs.manifest import Manifest, ManifestRun
from ravejobs.metrics.cache import MetricsCache
from ravejobs.progress import eta_seconds, line, watch


class Pending:
    """Stands in for a submitit job that never finishes (watch must not wait off a terminal)."""

    def done(self) -> bool:
        return False


def test_eta():
    assert eta_seconds(40, 100, 2.0) == 30.0
    assert eta_seconds(100, 100, 2.0) is None and eta_seconds(5, None, 2.0) is None
    assert eta_seconds(5, 100, None) is None


def test_line_reads_phase_step_rate_eta_and_distance(tmp_path):
    spec = spec_at(tmp_path, "phase.warmup=20", "phase.gan_steps=40")
    run = train_run(spec, steps=30, status="running", every=2, dt=1.0)
    run.update_state(phase="gan", max_steps=60)
    text = line(run, 60, MetricsCache(keys=("distance", "steps_per_s")))
    assert text.startswith(f"{run.name}  GAN  step 30 / 60  ")
    assert "steps/s  ETA " in text and "distance " in text


def test_off_a_terminal_nothing_is_drawn(tmp_path):
    spec = spec_at(tmp_path)
    run = train_run(spec, steps=10, status="running")
    out = io.StringIO()
    start = time.monotonic()
    watch(Console(file=out, force_terminal=False), [(Pending(), run, 100)])
    assert out.getvalue() == "" and time.monotonic() - start < 1.0


def test_status_shows_eta_for_a_running_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    spec = spec_at(tmp_path, "phase.warmup=20", "phase.gan_steps=40")
    run = train_run(spec, steps=30, status="running", every=2, dt=2.0)  # 0.5 steps/s
    m = Manifest(sweep_id="sweep-eta", root=str(tmp_path), cluster="local", executor="local")
    m.add_run(ManifestRun(run.name, run.signature, run.stage, str(run.path), ""))
    m.save()
    assert main(["status", "sweep-eta"]) == 0
    out = capsys.readouterr().out
    assert "ETA" in out
    row = next(r for r in out.splitlines() if run.signature in r)
    assert "0.50" in row and "1:00" in row, row          # 30 steps left at 0.5 steps/s
