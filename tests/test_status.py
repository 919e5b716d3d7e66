"""`ravejobs status`: rows from real run folders and manifests, locally and on the test SLURM."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import time

import pytest
from test_report_helpers import T0, prior_run, spec_at, train_run

from ravejobs.cli import main
from ravejobs.manifest import Manifest, ManifestRun
from ravejobs.metrics.cache import MetricsCache
from ravejobs.rundir import RunDir
from ravejobs.sacct_records import JobRecord
from ravejobs.status import BLOCKED, _slurm_state, status_row, sweep_status


def manifest_for(root, runs: list[RunDir], executor: str = "local", job_ids=None,
                 sweep_id: str = "sweep-test") -> Manifest:
    m = Manifest(sweep_id=sweep_id, root=str(root), cluster="local", executor=executor)
    for i, run in enumerate(runs):
        m.add_run(ManifestRun(run.name, run.signature, run.stage, str(run.path),
                              (job_ids or {}).get(i, "")))
    m.save()
    return m


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """Two models (one failed at step 24) and their priors; one more model still running."""
    root = tmp_path_factory.mktemp("status") / "root $ 'x'"
    ok, bad, live, fresh = (spec_at(root, f"phase.warmup={w}") for w in (20, 30, 40, 50))
    runs = [train_run(ok), prior_run(ok)]
    failed = train_run(bad, steps=24, status="failed")
    runs += [failed, RunDir.for_spec(bad, "prior")]
    runs[-1].create(bad)                      # the prior was planned, never started
    running = train_run(live, steps=30, status="running", start=time.time() - 90, dt=1.0)
    (running.checkpoints / "last.ckpt").write_bytes(b"x")
    os.utime(running.checkpoints / "last.ckpt", (time.time() - 125, time.time() - 125))
    runs.append(running)
    started = RunDir.for_spec(fresh, "train")  # running, nothing logged yet
    started.create(fresh)
    started.update_state(status="running", phase="vae", started=time.time() - 50)
    runs.append(started)
    return root, runs, manifest_for(root, runs)


def test_local_rows_follow_the_run_folders(local_sweep):
    root, runs, manifest = local_sweep
    rows = {(r.stage, r.signature): r for r in sweep_status(Manifest.load(manifest.folder),
                                                            MetricsCache(("steps_per_s",)))}
    assert len(rows) == 6
    model_ok = rows[("train", runs[0].signature)]
    assert (model_ok.state, model_ok.phase, model_ok.step, model_ok.budget) == (
        "finished", "GAN", 60, 60)
    assert model_ok.steps_per_s == pytest.approx(1 / 3.0, rel=1e-5)
    assert rows[("prior", runs[1].signature)].phase == "prior"
    failed = rows[("train", runs[2].signature)]
    assert (failed.state, failed.phase, failed.step) == ("failed", "VAE", 24)
    blocked = rows[("prior", runs[3].signature)]
    assert blocked.state == BLOCKED
    live = rows[("train", runs[4].signature)]
    assert live.state == "running" and live.step == 30 and live.budget == 80
    assert live.checkpoint_age_s == pytest.approx(125, abs=30)
    # elapsed: logged time (a row every 2 s), or since the start while nothing is logged
    assert live.elapsed_s == pytest.approx(28.0) and live.gpu_hours == 0.0
    assert model_ok.elapsed_s == pytest.approx(29 * 6.0)
    assert 45 <= rows[("train", runs[5].signature)].elapsed_s < 200
    assert model_ok.checkpoint_age_s is None


def test_stages_without_steps_have_no_budget(local_sweep):
    root, runs, _ = local_sweep
    export = RunDir.for_spec(runs[0].spec(), "export")
    export.create(runs[0].spec())
    row = status_row(export.path, "", {}, MetricsCache(("steps_per_s",)), time.time())
    assert (row.stage, row.budget, row.state) == ("export", None, "pending")


def test_status_command_prints_every_run(local_sweep, capsys, monkeypatch):
    root, runs, manifest = local_sweep
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["status", str(manifest.folder)]) == 0
    out = capsys.readouterr().out
    for run in runs:
        assert run.signature in out
    assert BLOCKED in out and "sweep-test" in out
    # no SWEEP: the newest manifest under $RAVEJOBS_ROOT/sweeps
    newer = manifest_for(root, runs[:1], sweep_id="sweep-newer")
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert newer.sweep_id in out and runs[2].signature not in out


def test_watch_redraws_until_interrupted(local_sweep):
    root, runs, manifest = local_sweep
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200"}
    # A terminal, as a user watches it (rich draws a live table only on a terminal).
    main_fd, term_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ravejobs.cli", "status", str(manifest.folder),
                             "--watch", "0.2"], env=env, stdout=term_fd,
                            stderr=subprocess.PIPE, text=True)
    os.close(term_fd)
    seen: list[str] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:   # the terminal closed with the process
                return
            if not chunk:
                return
            seen.append(chunk.decode(errors="replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def wait_for(text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in "".join(seen):
            assert proc.poll() is None, f"status exited {proc.returncode}: {''.join(seen)}"
            assert time.monotonic() < deadline, f"{text!r} not drawn: {''.join(seen)[-2000:]}"
            time.sleep(0.05)

    live = runs[4]
    try:
        wait_for("30 / 80")            # the first table
        assert "31 / 80" not in "".join(seen)
        live.update_state(step=31)
        wait_for("31 / 80")            # drawn again after the change
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        reader.join(timeout=10)
    finally:
        proc.kill()
        os.close(main_fd)
        live.update_state(step=30)
    out = "".join(seen)
    assert proc.returncode == 0, err
    assert "sweep-test" in out and runs[0].signature in out


def test_unknown_sweep_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    assert main(["status", "sweep-nope"]) == 2
    assert "sweep-nope" in capsys.readouterr().err


def test_status_when_sacct_fails_shows_run_folders_and_says_why(local_sweep, tmp_path,
                                                                  monkeypatch, capsys):
    _, runs, _ = local_sweep
    manifest = manifest_for(tmp_path / "root", runs[:2], executor="slurm",
                            job_ids={0: "123_0", 1: "124_0"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sacct"
    fake.write_text("#!/bin/sh\necho 'sacct: error: Problem talking to the database' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["status", str(manifest.folder)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "sacct failed, showing run folders only" in out
    assert "Problem talking to the database" in out
    assert runs[0].signature in out and runs[1].signature in out
    assert "finished" in out   # the model's state, from its run folder


def test_requeues_are_counted_in_the_state():
    record = JobRecord(job_id="7_1", state="RUNNING", exit_code="0:0", elapsed_s=60.0,
                       wall_s=3600.0, total_cpu_s=0.0, alloc_cpus=2, max_rss_bytes=None,
                       req_mem_bytes=None, req_tres="", alloc_tres="gres/gpu=2", node="n",
                       restarts=3)
    assert _slurm_state(record) == "RUNNING (3 requeues)"


@pytest.mark.slurm
def test_slurm_rows_come_from_sacct(tmp_path, slurm_cluster, sbatch, wait_final):
    root = tmp_path / "root"
    ok, bad = (spec_at(root, f"phase.warmup={w}") for w in (20, 30))
    runs = [train_run(ok, status="running"), train_run(bad, steps=10, status="running")]
    ids = [sbatch("--wrap", "sleep 1", "-o", "/dev/null"),
           sbatch("--wrap", "exit 3", "-o", "/dev/null")]
    wait_final(ids, expect=2)
    manifest = manifest_for(root, runs, executor="slurm", job_ids=dict(enumerate(ids)))
    from ravejobs.status import fetch_records

    records, note = fetch_records(manifest)
    assert note == ""
    rows = sweep_status(manifest, MetricsCache(("steps_per_s",)), records, now=T0)
    assert [r.state for r in rows] == ["COMPLETED", "FAILED"]
    assert rows[0].elapsed_s == records[ids[0]].wall_s


def test_never_ran_after_a_failure_is_blocked_in_status_and_report(tmp_path):
    """Issue 13 bug 4: a prior cancelled by its failed model's `aftercorr` keeps state.json
    'submitted', and the export behind it 'pending'; status and the report both say blocked."""
    from ravejobs.report.collect import RunRecord
    from ravejobs.report.table import _state

    spec = spec_at(tmp_path, "phase.warmup=30")
    model = train_run(spec, steps=24, status="failed")
    prior = RunDir.for_spec(spec, "prior")
    prior.create(spec)
    prior.update_state(status="submitted", job_id="77_0")
    export = RunDir.for_spec(spec, "export")
    export.create(spec)
    rows = {r.stage: r for r in sweep_status(manifest_for(tmp_path, [model, prior, export]),
                                             MetricsCache(("steps_per_s",)))}
    assert rows["train"].state == "failed"
    assert rows["prior"].state == BLOCKED
    assert rows["export"].state == "blocked (prior failed)"
    for run in (prior, export):
        assert _state(RunRecord(run, spec, run.state(), {})) == "blocked"
    prior.update_state(status="failed", message="cancelled (job 77_0)")  # `ravejobs cancel`
    assert status_row(prior.path, "", {}, MetricsCache(("steps_per_s",)),
                      time.time()).state == BLOCKED
    model.update_state(status="finished")  # once the model is trained again, nothing blocks
    assert status_row(prior.path, "", {}, MetricsCache(("steps_per_s",)),
                      time.time()).state == "failed"


def test_status_step_is_the_checkpoint_or_the_newest_logged(local_sweep):
    """state.json's step is its checkpoint's (bug 4); status shows training's progress from
    the metrics when it is further."""
    root, runs, _ = local_sweep
    live = runs[4]
    live.update_state(step=12)  # checkpoint at 12, metrics logged to 30
    try:
        row = status_row(live.path, "", {}, MetricsCache(("steps_per_s",)), time.time())
    finally:
        live.update_state(step=30)  # the module's fixture, as the other tests expect it
    assert row.step == 30
