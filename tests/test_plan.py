"""The plan: stages in dependency order, aftercorr pairing, splits at the cluster's limits."""

from __future__ import annotations

import pytest
from compose import compose_spec

from ravejobs.plan import make_plan


@pytest.fixture(autouse=True)
def _root(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))


def specs(n: int, *extra: str):
    return [compose_spec(["dataset=as", "dry_run=true", f"seed={i}", *extra]) for i in range(n)]


def test_stages_chain_with_aftercorr():
    plan = make_plan(specs(3))
    assert [a.label for a in plan.arrays] == ["prepare", "train", "prior", "export"]
    prepare, train, prior, export = plan.arrays
    assert len(prepare.tasks) == 1  # one corpus, prepared once
    assert (train.after, train.dependency) == (0, "afterok")  # 3 runs share one prepare
    assert (prior.after, prior.dependency) == (1, "aftercorr")
    assert [t.needs for t in prior.tasks] == [t.key for t in train.tasks]
    assert (export.after, export.dependency) == (2, "aftercorr")


def test_prior_none_skips_the_prior_and_exports_after_training():
    plan = make_plan(specs(2, "prior=none"))
    assert [a.stage for a in plan.arrays] == ["prepare", "train", "export"]
    assert plan.arrays[2].after == 1 and plan.arrays[2].dependency == "aftercorr"


def test_split_at_max_array_size_keeps_pairs():
    plan = make_plan(specs(5), max_array_size=2)
    trains, priors = plan.by_stage("train"), plan.by_stage("prior")
    assert [len(a.tasks) for a in trains] == [2, 2, 1]
    assert [len(a.tasks) for a in priors] == [2, 2, 1]
    for prior in priors:
        before = plan.arrays[prior.after]
        assert prior.dependency == "aftercorr" and before.stage == "train"
        assert [t.needs for t in prior.tasks] == [t.key for t in before.tasks]


def test_max_submit_also_bounds_arrays():
    plan = make_plan(specs(3), max_array_size=1000, max_submit=2)
    assert [len(a.tasks) for a in plan.by_stage("train")] == [2, 1]


def test_skipped_tasks_drop_out_and_dependents_run_free():
    done_train = {t.key for t in make_plan(specs(2)).by_stage("train")[0].tasks[:1]}
    plan = make_plan(specs(2), skip=lambda t: t.stage == "prepare" or t.key in done_train)
    train = plan.by_stage("train")
    assert len(train) == 1 and len(train[0].tasks) == 1 and train[0].after is None
    priors = plan.by_stage("prior")
    free = [a for a in priors if a.after is None]
    paired = [a for a in priors if a.after is not None]
    assert len(free[0].tasks) == 1  # its model finished earlier: nothing to wait for
    assert paired[0].dependency == "aftercorr"


def test_two_priors_per_model_fall_back_to_afterok():
    both = specs(1) + specs(1, "prior.max_steps=7")
    plan = make_plan(both)
    prior = plan.by_stage("prior")[0]
    assert len(prior.tasks) == 2 and prior.dependency == "afterok"


def test_stage_prior_alone():
    plan = make_plan(specs(2, "stage=prior"))
    assert [a.stage for a in plan.arrays] == ["prior"] and plan.arrays[0].after is None


def test_an_active_predecessor_is_waited_for_by_job_id():
    """Re-typing stage=all while stage=train runs: the prior waits for the queued train."""
    train_keys = [t.key for t in make_plan(specs(2)).by_stage("train")[0].tasks]
    active = {train_keys[0]: "500_0", train_keys[1]: "500_1"}
    plan = make_plan(specs(2), skip=lambda t: t.stage == "prepare" or t.key in active,
                     active=active)
    assert [a.stage for a in plan.arrays] == ["prior", "export"]
    prior = plan.by_stage("prior")[0]
    assert (prior.after, prior.dependency, prior.after_job) == (None, "aftercorr", "500")
    assert [t.needs for t in prior.tasks] == train_keys


def test_active_predecessors_out_of_order_wait_for_their_own_tasks():
    train_keys = [t.key for t in make_plan(specs(3)).by_stage("train")[0].tasks]
    active = {train_keys[0]: "500_2", train_keys[2]: "500_0", train_keys[1]: "77"}
    plan = make_plan(specs(3), skip=lambda t: t.stage == "prepare" or t.key in active,
                     active=active)
    priors = plan.by_stage("prior")
    waits = sorted((a.dependency, a.after_job, len(a.tasks)) for a in priors)
    # 500_0 and 500_2 pair with new tasks 0 and 1: not aftercorr; 77 is a one-task array
    assert waits == [("afterok", "500_0:500_2", 2), ("afterok", "77", 1)]
