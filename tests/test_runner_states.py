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
