"""The one duration formatter (ravejobs/durations.py) and the one job-id helper (jobid.py)."""

from __future__ import annotations

import pytest

from ravejobs.durations import format_duration
from ravejobs.jobid import current_job_id


def test_slurm_form_as_sbatch_and_sacct_write_it():
    assert format_duration(93784) == "1-02:03:04"
    assert format_duration(3725) == "01:02:05"
    assert format_duration(48 * 3600) == "2-00:00:00"  # the header's request for 2880 minutes


def test_eta_form_is_short():
    assert [format_duration(s, "eta") for s in (30.0, 3725.0, None)] == ["0:30", "1:02:05", "—"]


def test_age_form_keeps_two_units():
    assert [format_duration(s, "age") for s in (125, 3 * 3600 + 4 * 60, 26 * 3600, -5)] == \
        ["2m05s", "3h04m", "1d02h", "0m00s"]


def test_hours_form_as_the_report_shows_wall_time():
    assert [format_duration(s, "hours") for s in (725, 83 * 3600 + 19 * 60 + 10, 3599.6)] == \
        ["12m05s", "83h19m", "1h00m"]


def test_hms_form_matches_the_notebook():
    assert format_duration(10 * 3600 + 31 * 60 + 12, "hms") == "10h 31m 12s"
    assert format_duration(12 * 60 + 52.4, "hms") == "0h 12m 52s"
    assert format_duration(30 * 3600, "hms") == "30h 0m 0s"  # hours are not wrapped into days


def test_an_unknown_form_is_refused():
    with pytest.raises(ValueError, match="duration form 'clock'"):
        format_duration(1, "clock")  # type: ignore[arg-type]


@pytest.mark.parametrize(("env", "expected"), [
    ({"SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "3", "SLURM_JOB_ID": "10"}, "7_3"),
    ({"SLURM_JOB_ID": "10"}, "10"),
    ({}, ""),
])
def test_job_id_as_sacct_shows_it(monkeypatch, env, expected):
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert current_job_id() == expected
