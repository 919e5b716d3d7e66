"""Names follow the notebook; signatures are stable, distinct, and ignore non-result settings."""

from __future__ import annotations

import pytest
from compose import compose_spec

from ravejobs.naming import delta, run_name, signature


@pytest.fixture(autouse=True)
def _root(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    monkeypatch.setenv("SBATCH_ACCOUNT", "def-test")  # no account is shipped (issue 12)


def spec(*overrides: str):
    return compose_spec(["dataset=as", "dry_run=true", *overrides])


def test_names_in_the_notebook_style():
    assert run_name(spec("dataset=as_aug")) == "03-TR-07-AS-AUG"
    assert run_name(spec("dataset=viglienzoni"), "prior") == "04-TP-06-VIGLIENSONI"
    assert run_name(spec("tag=wu")) == "03-TR-07-AS-WU"


def test_signature_is_stable_and_a_short_hash():
    first = signature(spec("phase.warmup=5e6"))
    assert first == signature(spec("phase.warmup=5000000"))
    assert len(first) == 8 and int(first, 16) >= 0


def test_defaults_delta_holds_only_the_corpus_and_phases():
    assert delta(spec()) == {"dataset": "as",
                             "phase.gan_steps": 1_000_000, "phase.warmup": 1_000_000}


def test_signature_ignores_cluster_storage_tag_and_cadence(tmp_path):
    base = signature(spec())
    for other in (["cluster=narval"], ["cluster=fir", "cluster.time_min=60"],
                  [f"storage.root={tmp_path}/elsewhere"], ["tag=x"], ["reason=why"],
                  ["train.checkpoint_every_steps=7"], ["train.num_workers=1"]):
        assert signature(spec(*other)) == base, other


def test_signature_changes_with_what_is_trained():
    variants = [(), ("phase.warmup=5e6",), ("phase=paper",), ("kl=warmup",), ("kl.beta=0.01",),
                ("model.latent_size=16",), ("model.cropped_latent_size=16",), ("seed=1",),
                ("dataset=as_aug",), ("model.no_latency=true",), ("train.precision=bf16-mixed",)]
    sigs = [signature(spec(*v)) for v in variants]
    assert len(set(sigs)) == len(sigs)


def test_stages_have_distinct_signatures_and_prior_settings_only_change_the_prior():
    s = spec()
    assert len({signature(s, st) for st in ("prepare", "train", "prior", "export")}) == 4
    other = spec("prior.max_steps=5")
    assert signature(other) == signature(s)
    assert signature(other, "prior") != signature(s, "prior")
    assert signature(spec("phase.warmup=5"), "prepare") == signature(s, "prepare")


# Signatures of real configs, recorded before the config's defaults moved into one schema
# (issue 13): a run's identity must not change because a default moved between files.
PINNED = {
    "dataset=as": ("6d43c804", "faa02597", "aaed179c", "39b3192d"),
    "dataset=as model=rave_v2": ("6d43c804", "4dbc9ae6", "83b709f7", "d92b53fb"),
    "dataset=as model=rave_v2_small": ("6d43c804", "a26235f8", "bcce5980", "7b542e76"),
    "dataset=as model=tiny": ("6d43c804", "823aa3b3", "83eaf878", "09401408"),
    "dataset=as kl=warmup": ("6d43c804", "f7d0a68c", "27956552", "292aff12"),
    "dataset=as phase=paper": ("6d43c804", "f9abf72d", "200a7d11", "3ff6ec7f"),
    "dataset=as prior=none": ("6d43c804", "faa02597", "da60761b", "39b3192d"),
    "dataset=as_aug": ("76fcee58", "1a75bd10", "666d75ae", "b541575d"),
    "dataset=demo": ("ca421de5", "c1b1b2d1", "c9e6797d", "375c5a02"),
    "dataset=as cluster=narval cluster.nodes=2": ("6d43c804", "f228a832", "7a4fb2cf", "c15ccf69"),
}


@pytest.mark.parametrize("overrides", list(PINNED))
def test_signatures_of_existing_runs_do_not_move(overrides):
    s = spec(*overrides.split())
    got = tuple(signature(s, st) for st in ("prepare", "train", "prior", "export"))
    assert got == PINNED[overrides]
