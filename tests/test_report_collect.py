"""Run records derive the report table's numbers from real run folders (the metrics format
itself is tested in test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
from test_report_helpers import prior_run, spec_at, train_run

from ravejobs.metrics.cache import MetricsCache
from ravejobs.naming import signature
from ravejobs.report.collect import collect, sweep_runs


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("report") / "root with 'quotes' $HOME"
    specs = [spec_at(root, f"phase.warmup={w}", f"seed={s}") for w in (20, 30) for s in (0, 1)]
    for i, spec in enumerate(specs):
        train_run(spec, final=1.0 + 0.25 * i, gap_after=20 if i == 0 else None, gap_s=3600.0)
    prior_run(specs[0])
    return root, specs


def test_records_from_run_folders(sweep_root):
    root, specs = sweep_root
    label, runs = sweep_runs(root)
    assert len(runs) == 5
    records = collect([str(root)], MetricsCache())
    by_name = {(r.run.stage, r.run.signature): r for r in records}
    first = by_name[("train", records[0].run.signature)]
    assert {r.run.stage for r in records} == {"train", "prior"}
    train = [r for r in records if r.run.stage == "train"]
    assert len(train) == 4
    finals = {signature(spec): 1.0 + 0.25 * i for i, spec in enumerate(specs)}
    for r in train:
        assert r.steps_done == r.spec.phase.max_steps
        assert r.kept_size == 5
        assert r.budget == r.spec.phase.warmup + r.spec.phase.gan_steps
        # distance written as final + 5 exp(-step/20)
        expected = finals[r.run.signature] + 5.0 * np.exp(-r.steps_done / 20.0)
        assert r.final_distance == pytest.approx(expected, rel=1e-5)
        assert r.gpu_hours == 0.0                          # cluster=local: no GPU
    # 3 s a step, logged every 2 steps: the 1 h queue wait of the first run is left out
    waits = [r for r in train if r.metrics["distance"].time.max()
             - r.metrics["distance"].time.min() > 3000]
    assert len(waits) == 1
    for r in train:
        intervals = len(r.metrics["distance"]) - 1 - any(r is w for w in waits)  # minus the wait
        assert r.wall_s == pytest.approx(intervals * 6.0, abs=0.01)
    prior = next(r for r in records if r.run.stage == "prior")
    assert prior.steps_done == 40 and prior.final_distance is None
    assert prior.metrics["prior_loss"].value[-1] == pytest.approx(3.0 / 40)
    assert first.sweep == label


def test_unknown_sweep_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nope"):
        collect(["nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no run folders"):
        collect([str(tmp_path / "empty")])
