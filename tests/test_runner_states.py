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
