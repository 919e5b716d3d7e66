"""Cadence that fits the budget: unset log and validation intervals follow the step budget, the
signatures of real runs do not move, and the KL groups share one set of keys."""

from __future__ import annotations

import pytest
from compose import compose_spec

from ravejobs import cadence
from ravejobs.naming import signature


def test_a_short_run_on_ones_own_corpus_gets_useful_curves():
    spec = compose_spec(["dataset=custom", "dataset.raw=/x", "dataset.label=MINE", "model=tiny",
                         "phase.warmup=60", "phase.gan_steps=40", "dry_run=true"])
    assert spec.phase.max_steps == 100
    assert (spec.train.val_every, spec.train.log_every) == (5, 1)   # 20 validations, 100 rows
    assert cadence.val_every(3) == 1 and cadence.log_every(10**9) == 100


@pytest.mark.parametrize(("overrides", "pinned"), [
    (["dataset=as"], "faa02597"),                                 # as before this change
    (["dataset=as", "phase=long_warmup"], "f027b79f"),
    (["dataset=as", "phase=paper", "kl=warmup"], "ed981ec0"),
    (["dataset=demo"], "c1b1b2d1"),                               # demo keeps its own cadence
    (["dataset=demo", "train.val_every=7"], "96f5dc1f"),          # explicit values: unchanged
])
def test_signatures_of_existing_runs_do_not_move(overrides, pinned):
    spec = compose_spec([*overrides, "dry_run=true"])
    assert signature(spec) == pinned


def test_long_runs_keep_the_old_cadence_and_explicit_values_win():
    spec = compose_spec(["dataset=as", "dry_run=true"])
    assert (spec.train.val_every, spec.train.log_every) == (10_000, 100)
    explicit = compose_spec(["dataset=as", "train.val_every=10000", "dry_run=true"])
    assert signature(explicit) == signature(spec)
    mine = compose_spec(["dataset=as", "train.val_every=500", "train.log_every=7",
                         "dry_run=true"])
    assert (mine.train.val_every, mine.train.log_every) == (500, 7)


def test_kl_groups_share_one_set_of_keys():
    """`-m kl=fixed,warmup kl.steps=50` composes without `++`; under fixed the ramp is ignored
    and stays out of the signature."""
    fixed = compose_spec(["dataset=demo", "kl=fixed", "kl.steps=50", "dry_run=true"])
    warm = compose_spec(["dataset=demo", "kl=warmup", "kl.steps=50", "dry_run=true"])
    assert fixed.kl.mode == "fixed" and warm.kl.steps == 50
    assert signature(fixed) == signature(compose_spec(["dataset=demo", "dry_run=true"]))
