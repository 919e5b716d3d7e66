"""Every config of every group composes and validates; every validation rule refuses a bad value."""

from __future__ import annotations

import pytest
from compose import CONF, compose_plain, compose_spec, group_options

from ravejobs.config import ConfigError, build_runspec, build_runspecs
from ravejobs.model.phases import beta_at
from ravejobs.probes import launch_problems
from ravejobs.sweep import launch_sweep

GROUPS = ("dataset", "phase", "kl", "model", "prior", "cluster", "storage")


@pytest.fixture(autouse=True)
def _root(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("SBATCH_ACCOUNT", "def-test")  # no account is shipped (issue 12)
    monkeypatch.delenv("SLURM_ACCOUNT", raising=False)


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in group_options(g)])
def test_every_config_composes_and_validates(group, option):
    overrides = [f"{group}={option}", "dry_run=true"]
    if group != "dataset":
        overrides.append("dataset=as")  # upstream-sized phases: every group's values fit
    if option == "custom":  # the corpus given on the command line: its folder is required
        overrides += ["dataset.raw=/path/to/audio", "dataset.label=custom"]
    spec = compose_spec(overrides)
    if group == "cluster":
        assert spec.cluster.name == option
    if group == "dataset":
        assert spec.dataset.name == option


def test_dataset_ids_and_hours_match_the_notebook():
    expected = {"autechre_old": (0, 7.3), "autechre_new": (1, 8.0), "caterina_barbieri": (2, 5.9),
                "electro_harmonic": (3, 21.8), "acoustic_harmonic": (4, 32.7),
                "acoustic_percussive": (5, 19.2), "viglienzoni": (6, 8.8), "as": (7, 4.5)}
    for name, (cid, hours) in expected.items():
        spec = compose_spec([f"dataset={name}", "dry_run=true"])
        assert (spec.dataset.id, spec.dataset.hours) == (cid, hours)
        assert spec.model.name == "rave_v1" and spec.phase.warmup == 1_000_000


def test_one_override_moves_every_corpus(tmp_path):
    spec = compose_spec(["dataset=as", f"storage.data_root={tmp_path}/corpora", "dry_run=true"])
    assert spec.dataset.raw == f"{tmp_path}/corpora/raw/AS"


def test_demo_brings_tiny_model_and_short_phases():
    spec = compose_spec([])
    assert (spec.dataset.name, spec.model.name, spec.cluster.name) == ("demo", "tiny", "local")
    assert spec.phase.max_steps < 1000


def test_phase_presets_and_derived_budget():
    assert compose_spec(["dataset=as", "dry_run=true"]).phase.max_steps == 2_000_000
    assert compose_spec(["dataset=as", "phase=paper", "dry_run=true"]).phase.max_steps == 3_000_000
    spec = compose_spec(["dataset=as", "phase=long_warmup", "dry_run=true"])
    assert (spec.phase.warmup, spec.phase.max_steps) == (5_000_000, 8_000_000)


def test_float_that_is_whole_is_a_step_count():
    spec = compose_spec(["dataset=as", "phase.warmup=5e6", "dry_run=true"])
    assert spec.phase.warmup == 5_000_000 and isinstance(spec.phase.warmup, int)
    assert spec.phase.max_steps > 5_000_000


def test_explicit_max_steps_sets_the_adversarial_length():
    spec = compose_spec(["dataset=as", "phase.warmup=1e6", "phase.max_steps=3e6", "dry_run=true"])
    assert (spec.phase.warmup, spec.phase.gan_steps) == (1_000_000, 2_000_000)


def refused(overrides: list[str]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        compose_spec([*overrides, "dry_run=true"])
    return err.value.problems


BAD = [
    (["phase.warmup=5e6", "phase.max_steps=3e6"], ("phase.max_steps", "phase.warmup")),
    (["phase.warmup=5.5"], ("phase.warmup=5.5", "whole number")),
    (["phase.warmup=lots"], ("phase.warmup",)),
    (["phase.gan_steps=0"], ("phase.gan_steps",)),
    (["phase.warmup=0"], ("phase.warmup",)),
    (["kl=warmup", "kl.steps=2e6"], ("kl.steps", "phase.warmup")),
    (["kl=warmup", "kl.beta_min=0.5", "kl.beta_max=0.1"], ("kl.beta_min",)),
    (["kl.beta=-1"], ("kl.beta",)),
    (["kl.mode=cyclic"], ("kl.mode",)),
    (["model.data_size=12"], ("model.data_size", "power of 2")),
    (["model.cropped_latent_size=300"], ("model.cropped_latent_size",)),
    (["model.n_signal=1000"], ("model.n_signal", "multiple")),
    (["model.ratios=[4,0]"], ("model.ratios",)),
    (["model.mode=wgan"], ("model.mode",)),
    (["model.bias=maybe"], ("model.bias",)),
    (["model.sr=44100"], ("dataset.sr=48000", "model.sr=44100")),
    (["cluster=narval", "cluster.gpu_type=v100"], ("cluster.gpu_type=v100", "a100")),
    (["cluster=narval", "cluster.gpus_per_node=8"], ("cluster.gpus_per_node",)),
    (["cluster=trillium", "cluster.time_min=2880"], ("cluster.time_min", "1440")),
    (["cluster=narval", "cluster.signal_delay_s=999999"], ("cluster.signal_delay_s",)),
    (["cluster=narval", "cluster.account=null"], ("cluster.account",)),
    (["storage.root=/scratch/me/ravejobs"], ("storage.root", "/scratch")),
    (["stage=evaluate"], ("stage",)),
    (["stage=prior", "prior=none"], ("stage=prior",)),
    (["prior.max_steps=1.5"], ("prior.max_steps",)),
    (["train.precision=fp8"], ("train.precision",)),
]


@pytest.mark.parametrize("overrides,words", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_each_rule_refuses_a_bad_value_naming_the_setting(overrides, words):
    problems = refused(["dataset=as", *overrides])
    assert any(all(w in p for w in words) for p in problems), problems


def test_missing_corpus_folder_is_refused_at_the_launch_edge(capsys):
    """The schema and rules are pure (the same config builds on any machine); the launcher
    probes this machine's files and stops with one line naming the setting."""
    cfg = compose_plain(["dataset=autechre_old"])
    spec = build_runspec(cfg, ["dataset=autechre_old"])
    problems = launch_problems([(spec, False)])
    assert len(problems) == 1
    assert "dataset.raw" in problems[0] and "AUTECHRE-OLD" in problems[0]
    assert launch_problems([(spec, True)]) == []  # a dry run needs no audio
    with pytest.raises(SystemExit) as stop:
        launch_sweep([(cfg, ["dataset=autechre_old"])])
    assert stop.value.code == 2
    assert "no such folder" in capsys.readouterr().err


def test_project_storage_under_this_machines_scratch_is_refused_at_the_launch_edge(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCH", str(tmp_path))
    spec = build_runspec(compose_plain(["dataset=as", "dry_run=true",
                                        f"storage.root={tmp_path}/runs"]))
    problems = launch_problems([(spec, True)])
    assert len(problems) == 1 and "on $SCRATCH" in problems[0], problems
    monkeypatch.delenv("SCRATCH")
    assert launch_problems([(spec, True)]) == []


def test_all_or_nothing_reports_every_bad_point():
    good = compose_plain(["dataset=as", "dry_run=true"])
    bad = compose_plain(["dataset=as", "phase.warmup=5.5", "dry_run=true"])
    bad2 = compose_plain(["dataset=as", "kl.beta=0", "dry_run=true"])
    with pytest.raises(ConfigError) as err:
        build_runspecs([(good, ["a"]), (bad, ["b"]), (bad2, ["c"])])
    assert [p.split("]")[0] for p in err.value.problems] == ["[b", "[c"]


def test_account_comes_from_the_environment(monkeypatch):
    assert compose_spec(["cluster=narval", "dataset=as", "dry_run=true"]).cluster.account == \
        "def-test"
    monkeypatch.setenv("SBATCH_ACCOUNT", "def-someone")
    spec = compose_spec(["cluster=fir", "dataset=as", "dry_run=true"])
    assert spec.cluster.account == "def-someone" and spec.cluster.gpu_request == "h100:1"


@pytest.mark.parametrize("cluster", ["narval", "fir", "nibi", "rorqual", "trillium"])
def test_no_account_is_shipped_the_sweep_stops_naming_where_to_set_it(monkeypatch, cluster):
    monkeypatch.delenv("SBATCH_ACCOUNT")
    problems = refused([f"cluster={cluster}", "dataset=as"])
    line = next(p for p in problems if p.startswith("cluster.account"))
    assert "SBATCH_ACCOUNT" in line and "conf/local/" in line


def test_kl_beta_curves():
    fixed = compose_spec(["dataset=as", "dry_run=true"]).kl
    assert {beta_at(fixed, s) for s in (0, 10, 10**6)} == {0.1}
    ramp = compose_spec(["dataset=as", "kl=warmup", "dry_run=true"]).kl
    assert beta_at(ramp, 0) == pytest.approx(1e-6)
    assert beta_at(ramp, 10_000) == pytest.approx((1e-6 * 0.1) ** 0.5)  # log-linear midpoint
    assert beta_at(ramp, 20_000) == beta_at(ramp, 10**6) == pytest.approx(0.1)


def test_spec_round_trips_through_json():
    spec = compose_spec(["dataset=as", "cluster=narval", "dry_run=true"])
    from ravejobs.config import RunSpec

    assert RunSpec.from_dict(spec.to_dict()) == spec


def test_each_default_is_written_once_in_the_schema():
    """conf/ files hold only what their option changes: a value equal to the schema's default
    would be a second copy of it (and drift from it unseen)."""
    import yaml

    from ravejobs.config.schema import defaults_node

    defaults, repeats = defaults_node(), []
    for path in sorted(CONF.rglob("*.yaml")):
        group = path.relative_to(CONF).parts[0]
        if group in ("hydra", "local") or "@package _global_" in path.read_text():
            continue
        data = yaml.safe_load(path.read_text()) or {}
        base = defaults if path.name == "config.yaml" else defaults.get(group, {})
        repeats += [f"{path.relative_to(CONF)}: {key}" for key, value in data.items()
                    if key in base and value == base[key] and type(value) is type(base[key])]
    assert repeats == []


def test_a_setting_no_group_file_lists_is_still_a_plain_override():
    """`model.capacity` comes from the schema, not conf/model/rave_v1.yaml: no `+` needed."""
    assert "capacity" not in (CONF / "model" / "rave_v1.yaml").read_text()
    assert compose_spec(["dataset=as", "dry_run=true", "model.capacity=32"]).model.capacity == 32


def test_a_cluster_profile_says_whether_it_needs_an_account(monkeypatch):
    monkeypatch.delenv("SBATCH_ACCOUNT")
    assert compose_spec(["cluster=testslurm", "dataset=as", "dry_run=true"]).cluster.account is None
    problems = refused(["cluster=testslurm", "cluster.needs_account=true", "dataset=as"])
    assert any(p.startswith("cluster.account: testslurm needs") for p in problems), problems
