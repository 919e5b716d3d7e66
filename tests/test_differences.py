"""Sweep points you can tell apart: what differs between them in the plan and `status`, display
names with an index when points share a notebook name, failure reasons, blocked vs failed, and
a plan table that lists a re-run's finished tasks instead of nothing."""

from __future__ import annotations

from compose import compose_spec
from test_report_helpers import spec_at, train_run

from ravejobs.cli import main
from ravejobs.differences import describe, display_names
from ravejobs.manifest import Manifest, ManifestRun
from ravejobs.rundir import RunDir
from ravejobs.sweep import run_sweep

POINTS = [("seed=0", "kl=fixed"), ("seed=1", "kl=fixed"), ("seed=0", "kl=warmup", "kl.steps=20"),
          ("seed=0", "kl=fixed", "model.cropped_latent_size=4")]


def specs(root=None):
    return [compose_spec(["dataset=demo", "dry_run=true", *p]) for p in POINTS]


def test_points_differing_by_seed_kl_or_crop_are_told_apart():
    runs = [("03-TR-99-DEMO", s, "train") for s in specs()]
    labels = describe(runs)
    assert [name for name, _ in labels] == [f"03-TR-99-DEMO #{i}" for i in (1, 2, 3, 4)]
    assert [d for _, d in labels] == ["kl=fixed crop=0 seed=0", "kl=fixed crop=0 seed=1",
                                      "kl=warmup crop=0 seed=0", "kl=fixed crop=4 seed=0"]
    assert display_names(["A", "B", "A"]) == ["A #1", "B", "A #2"]
    assert describe([("A", specs()[0], "train")]) == [("A", "")]


def test_plan_names_each_point_and_shows_what_differs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    run_sweep(specs(), dry_run=True)
    out = capsys.readouterr().out
    train = [line for line in out.splitlines() if "03-TR-99-DEMO" in line and "│" in line]
    assert len(train) == 4 and all(f"#{i}" in row for i, row in enumerate(train, 1))
    assert "seed=1" in train[1] and "crop=4" in train[3] and "kl warmup" in train[2]


def test_a_rerun_lists_its_finished_tasks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    points = specs()[:2]
    for spec in points:
        for stage in spec.stages:
            run = RunDir.for_spec(spec, stage)
            run.create(spec)
            run.update_state(status="finished")
    run_sweep(points, dry_run=True)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "-99-DEMO" in line and "│" in line]
    assert len(rows) == 7, out               # 1 prepare + 2 x (train, prior, export)
    assert all("finished" in row for row in rows[1:]), out
    assert "not resubmitted" in out


def test_status_shows_failure_reasons_and_blocked_apart_from_failed(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    a, b = (spec_at(tmp_path, f"seed={s}") for s in (0, 1))
    failed = train_run(a, steps=24, status="failed")
    failed.update_state(message="RuntimeError: CUDA out of memory while allocating 2 GiB")
    prior = RunDir.for_spec(a, "prior")
    prior.create(a)
    prior.update_state(status="blocked", message="blocked: its train failed")
    export = RunDir.for_spec(a, "export")
    export.create(a)
    export.update_state(status="submitted")
    ok = train_run(b)
    m = Manifest(sweep_id="sweep-abc", root=str(tmp_path), cluster="local", executor="local")
    for run in (failed, prior, export, ok):
        m.add_run(ManifestRun(run.name, run.signature, run.stage, str(run.path), ""))
    m.save()
    assert main(["status", "sweep-abc"]) == 0
    out = capsys.readouterr().out
    rows = {i: line for i, line in enumerate(out.splitlines()) if "-99-DEMO" in line}
    train_failed = next(r for r in rows.values() if failed.signature in r)
    assert "failed" in train_failed and "CUDA out of memory" in train_failed
    assert "seed=0" in train_failed and "#1" in train_failed
    prior_row = next(r for r in rows.values() if prior.signature in r)
    assert "blocked (model failed)" in prior_row and "its train failed" in prior_row
    export_row = next(r for r in rows.values() if export.signature in r)
    assert "blocked (prior failed)" in export_row
