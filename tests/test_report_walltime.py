"""Wall time in `report` and `status` is what the job logs' footers say (issue 16 finding 4: the
report showed 0m09s for runs whose logs said 20 s and 65 s, because it took the span of logged
metrics, which leaves out set-up, validation and saving)."""

from __future__ import annotations

import re
import time

import pytest
from test_report_helpers import T0
from test_train_helpers import corpus, make_run, train  # noqa: F401

from ravejobs import walltime
from ravejobs.metrics.cache import MetricsCache, active_seconds
from ravejobs.report.collect import collect
from ravejobs.status import status_row


def footer_seconds(log: str) -> list[int]:
    """The `elapsed    HH:MM:SS this run` lines of job footers, in seconds."""
    return [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in
            re.findall(r"^elapsed    (\d+):(\d\d):(\d\d) this run", log, re.M)]


def test_wall_time_of_a_real_run_is_the_sum_of_its_job_footers(
        tmp_path, corpus, capsys, monkeypatch):  # noqa: F811
    from ravejobs.jobs import runner

    real = runner.job_class

    def slow_start(stage: str):  # each job starts 3 s late, as one staging a corpus does
        def make(run):
            time.sleep(3.0)
            return real(stage)(run)
        return make

    monkeypatch.setattr(runner, "job_class", slow_start)
    spec, run = make_run(tmp_path, corpus)
    train(run, stop_at=4)                      # a first job, stopped half-way ...
    train(run)                                 # ... and the job that resumes and finishes
    footers = footer_seconds(capsys.readouterr().out)
    assert len(footers) == 2 and run.state().status == "finished"
    (record,) = collect([str(run.path)], MetricsCache())
    assert record.wall_s == pytest.approx(sum(footers), abs=1.0)
    row = status_row(run.path, "", {}, MetricsCache(("steps_per_s",)), time.time())
    assert row.elapsed_s == pytest.approx(sum(footers), abs=1.0)
    # what the report counted before: the span of logged metrics, which leaves out at least the
    # first job's slow start (the second one's lies between logged steps); footers round to 1 s
    assert active_seconds(record.metrics["distance"].time) < sum(footers) - 2.0


def test_attempts_add_up_once_each_and_a_running_job_counts_until_now():
    attempts = walltime.started({}, T0)
    assert walltime.run_seconds(attempts, "running", T0 + 5, now=T0 + 30) == 30.0
    attempts = walltime.ended(attempts, T0, 20.0)
    attempts = walltime.ended(attempts, T0, 20.0)    # a footer printed twice counts once
    assert walltime.run_seconds(attempts, "requeued", T0 + 20, now=T0 + 999) == 20.0
    attempts = walltime.started(attempts, T0 + 3600)  # requeued: the hour queued does not count
    assert walltime.run_seconds(attempts, "running", T0 + 3600, now=T0 + 3610) == 30.0
    # a job killed without a footer: counted until state.json's last update
    assert walltime.run_seconds(attempts, "failed", T0 + 3605, now=T0 + 9999) == 25.0
    assert walltime.run_seconds({}, "finished", T0, now=T0) is None  # an older run folder
