"""What state.json says for runs the launcher decides not to run (issue 13 bug 4)."""

from __future__ import annotations

from test_train_helpers import corpus, make_run  # noqa: F401

from ravejobs.rundir import RunDir


def test_prepare_skipped_because_its_store_is_current_is_finished(tmp_path, corpus):  # noqa: F811
    from ravejobs.sweep import run_sweep

    spec, _ = make_run(tmp_path, corpus, "stage=prepare")
    result = run_sweep([spec])
    assert result["submitted"] == []  # nothing ran: the store is current
    state = RunDir.for_spec(spec, "prepare").state()
    assert state.status == "finished" and "store up to date" in state.message


def test_an_unreadable_spec_is_recorded_failed_so_what_follows_is_blocked(tmp_path, corpus):  # noqa: F811
    """The runner records any failure, the header's own reading of spec.json included; the
    prior waiting on that model then shows blocked (status) rather than queued forever."""
    import pytest

    from ravejobs.jobs.runner import StageRunner
    from ravejobs.rundir import shown_status

    spec, run = make_run(tmp_path, corpus)
    prior = RunDir.for_spec(spec, "prior")
    prior.create(spec)
    prior.update_state(status="submitted")
    run.spec_file.write_text("{ not json")
    with pytest.raises(ValueError):
        StageRunner("train", str(run.path))()
    assert run.state().status == "failed" and "JSONDecodeError" in run.state().message
    assert shown_status(prior) == "blocked"


def test_a_finished_stage_under_slurm_ignores_a_late_time_limit_signal(
        tmp_path, corpus, monkeypatch):  # noqa: F811
    """USR2 after the work is done must not kill the exiting process (the job ended FAILED)."""
    import signal

    from ravejobs.jobs.runner import StageRunner

    spec, _ = make_run(tmp_path, corpus, "stage=prepare")
    run = RunDir.for_spec(spec, "prepare")
    run.create(spec)
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    monkeypatch.setattr("ravejobs.jobs.header.efficiency_lines", lambda elapsed: [])
    before = signal.getsignal(signal.SIGUSR2)
    try:
        StageRunner("prepare", str(run.path))()  # the store is current: finishes at once
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
        assert run.state().status == "finished"
    finally:
        signal.signal(signal.SIGUSR2, before)


def test_ranks_other_than_0_leave_state_json_to_rank_0(tmp_path, corpus, monkeypatch):  # noqa: F811
    """A multi-GPU run's other ranks record no status (RunDir.write_state writes on rank 0
    only): two ranks writing state.json at once would fail one atomic write, and its job."""
    import pytest

    from ravejobs.jobs.runner import StageRunner

    spec, run = make_run(tmp_path, corpus)
    run.update_state(status="running", message="rank 0's")
    before = run.state_file.read_bytes()
    run.spec_file.write_text("{ not json")
    monkeypatch.setenv("SLURM_PROCID", "1")
    with pytest.raises(ValueError):
        StageRunner("train", str(run.path))()
    assert run.state_file.read_bytes() == before
    monkeypatch.setenv("SLURM_PROCID", "0")
    with pytest.raises(ValueError):
        StageRunner("train", str(run.path))()
    assert run.state().status == "failed"
