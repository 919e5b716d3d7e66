"""The issue's end-to-end check: a tiny local sweep (two warmups x two seeds; there is one demo
corpus) trained for real, then `ravejobs report` and `ravejobs status` on it, the page opened
in headless Chromium. Minutes on a CPU, hence `slow`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from launching import launch
from test_report_helpers import CHROMIUM, NO_CHROMIUM, open_in_chromium
from test_report_walltime import footer_seconds

from ravejobs.cli import main
from ravejobs.manifest import Manifest
from ravejobs.metrics.cache import MetricsCache
from ravejobs.report.collect import collect

pytestmark = pytest.mark.slow
SWEEP = ("dataset=demo", "phase.warmup=3,4", "seed=0,1", "phase.gan_steps=2",
         "model.n_signal=2048", "model.batch=2", "train.log_every=1", "train.val_every=1000",
         "train.num_workers=0", "prior.max_steps=2")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "project $space"
    done = launch(root, "-m", *SWEEP, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    sweep_id = re.search(r"(sweep-[0-9a-f]{8})", out).group(1)
    return root, sweep_id


def test_report_of_a_real_local_sweep(trained, tmp_path, monkeypatch):
    root, sweep_id = trained
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    manifest = Manifest.load(sweep_id)
    models = {r.signature: r for r in manifest.runs if r.stage == "train"}
    priors = {r.signature: r for r in manifest.runs if r.stage == "prior"}
    assert len(models) == len(priors) == 4
    out = tmp_path / "report out"
    assert main(["report", sweep_id, "--out", str(out)]) == 0
    records = collect([sweep_id], MetricsCache())
    for r in records:
        assert r.state.status == "finished", (r.label, r.state)
        assert r.steps_done == r.budget
        if r.run.stage == "train":
            steps = r.metrics["distance"].step.tolist()
            assert steps[-1] == r.spec.phase.warmup + 2 and r.final_distance is not None
        else:
            assert r.metrics["prior_loss"].step.tolist()[-1] == 2
        # wall time is what the job log's footer says (issue 16: 0m09s for a log's 20 s)
        footers = [n for log in r.run.logs.glob("*.out") for n in footer_seconds(log.read_text())]
        assert len(footers) == 1 and r.wall_s == pytest.approx(footers[0], abs=0.6), r.label
    page = (out / "report.html").read_text()
    assert sorted(re.findall(r'<tr data-run="([^"]+)">', page)) == sorted(
        f"{r.name}.{r.signature}" for r in [*models.values(), *priors.values()])
    assert "coloured by <b>phase.warmup</b>" in page
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    dom = open_in_chromium(out / "report.html", tmp_path / "profile",
                           tmp_path / "report-e2e.png")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-images="ok"' in body and 'data-image-count="3"' in body, body
    assert 'data-rows="8"' in body, body


def test_status_of_a_real_local_sweep(trained, capsys, monkeypatch):
    root, sweep_id = trained
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    assert main(["status"]) == 0                      # the newest sweep under RAVEJOBS_ROOT
    out = capsys.readouterr().out
    manifest = Manifest.load(sweep_id)
    for run in manifest.runs:
        if run.stage in ("train", "prior"):
            row = next(line for line in out.splitlines() if run.signature in line)
            assert "finished" in row, row
            folder = Path(run.path) if Path(run.path).is_absolute() else Path(
                manifest.root) / run.path
            log = next((folder / "logs").glob("*.out")).read_text()
            clock = re.search(r"^elapsed    (\S+) this run", log, re.M).group(1)
            assert clock in row, (clock, row)          # the footer's elapsed, to the second
            if run.stage == "prior":
                assert "2 / 2" in row, row
