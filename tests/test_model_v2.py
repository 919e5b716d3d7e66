"""RAVE v2 family: configs, validation and exact parameter counts of acids-rave 2.3.1."""

from __future__ import annotations

import json

import pytest
import torch
from compose import compose_spec

from ravejobs.config import ConfigError, RunSpec
from ravejobs.model.v2 import build_model
from ravejobs.model.v2.layers import padding


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Measured on acids-rave 2.3.1 with CHANNELS=1 from its gin configs (encoder, decoder, discrim.).
UPSTREAM = {
    ("model=rave_v2",): (16_056_928, 15_479_072, 27_130_952),
    ("model=rave_v2_small",): (3_945_904, 3_816_608, 6_791_720),
    ("model=rave_v2", "model.use_noise=true"): (16_056_928, 15_634_720, 27_130_952),  # noise.gin
    ("model=rave_v2", "model.no_latency=true"): (16_056_928, 15_479_072, 27_130_952),  # causal
    ("model=rave_v2_wasserstein",): (14_950_768, 15_552_800, 27_130_952),
}


@pytest.mark.parametrize("overrides", list(UPSTREAM), ids=" ".join)
def test_parameter_counts_equal_upstream(overrides):
    spec = compose_spec([*overrides, "dataset=as", "dry_run=true"])
    model = build_model(spec.model, spec.phase.warmup, spec.kl)
    enc, dec, dis = UPSTREAM[overrides]
    assert (count(model.encoder), count(model.decoder), count(model.discriminator)) == \
        (enc, dec, dis)


def test_generator_totals_from_the_issue():
    for name, total in (("rave_v2", 31_536_000), ("rave_v2_small", 7_762_512)):
        spec = compose_spec([f"model={name}", "dataset=as", "dry_run=true"])
        model = build_model(spec.model, spec.phase.warmup, spec.kl)
        assert count(model.encoder) + count(model.decoder) == total


def test_v2_configs_bring_upstream_schedules():
    v2 = compose_spec(["model=rave_v2", "dataset=as", "dry_run=true"])
    assert (v2.kl.mode, v2.kl.beta_min, v2.kl.beta_max, v2.kl.steps) == ("warmup", 1e-6, 0.05,
                                                                         20_000)
    assert (v2.phase.warmup, v2.phase.max_steps) == (1_000_000, 6_000_000)
    m = v2.model
    assert (m.arch, m.n_signal, m.lr, m.lr_end_factor, m.lr_dis, m.dis_every) == \
        ("v2", 131072, 1e-3, 0.1, 1e-4, 4)
    small = compose_spec(["model=rave_v2_small", "dataset=as", "dry_run=true"])
    assert (small.kl.mode, small.kl.beta, small.model.dis_every) == ("fixed", 0.01, 2)
    chosen = compose_spec(["model=rave_v2", "kl=fixed", "phase=paper", "dataset=as",
                           "dry_run=true"])
    assert chosen.kl.mode == "fixed" and chosen.phase.max_steps == 3_000_000  # the user wins
    w = compose_spec(["model=rave_v2_wasserstein", "dataset=as", "dry_run=true"])
    assert (w.model.latent_size, w.model.noise_augmentation, w.kl.beta, w.phase.warmup) == \
        (16, 128, 100.0, 200_000)


def test_v1_specs_and_signatures_are_unchanged_by_the_v2_settings():
    """v1 configs do not mention the v2 keys, so their specs equal the dataclass defaults."""
    from ravejobs.naming import delta

    spec = compose_spec(["dataset=as", "dry_run=true"])
    assert spec.model.arch == "v1"
    assert not [k for k in delta(spec) if k.split(".")[-1] in (
        "arch", "dilations", "fm_weight", "lr_dis", "valid_crop", "d_periods")]


def test_v2_spec_round_trips_through_json():
    spec = compose_spec(["model=rave_v2_small", "dataset=as", "dry_run=true"])
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.model.dilations == ((1, 3, 9), (1, 3, 9), (1, 3, 9), (1, 3))


@pytest.mark.parametrize("overrides,words", [
    (["model.dilations=[[1,3],[1]]"], "model.dilations has 2 entries for 4 model.ratios"),
    (["model.dilations=[1,3]"], "model.dilations=[1, 3]"),
    (["model.cropped_latent_size=8"], "model.cropped_latent_size"),
    (["model.regularizer=vq"], "model.regularizer='vq'"),
    (["model.dis_every=1"], "model.dis_every=1"),
    (["model.d_periods=[2,0]"], "model.d_periods"),
])
def test_bad_v2_settings_are_refused_by_name(overrides, words):
    with pytest.raises(ConfigError) as err:
        compose_spec(["model=rave_v2", "dataset=as", "dry_run=true", *overrides])
    assert words in str(err.value)


def test_padding_matches_upstream_get_padding():
    """cached_conv.get_padding: span (k-1)d+1 -> ((span-1)//2, span//2), causal (span-1, 0)."""
    for k, d in ((3, 1), (3, 9), (7, 1), (8, 1), (4, 1), (1, 1)):
        span = (k - 1) * d + 1
        assert padding(k, d) == ((span - 1) // 2, span // 2 if k > 1 else 0)
        assert padding(k, d, causal=True) == (span - 1, 0)


def test_lr_and_beta_follow_upstream_schedules():
    spec = compose_spec(["model=rave_v2", "dataset=as", "dry_run=true"])
    model = build_model(spec.model, 1000, spec.kl)
    assert model.lr_at(0) == pytest.approx(1e-3)
    assert model.lr_at(500) == pytest.approx(0.55e-3)  # LinearLR 1.0 -> 0.1 over the warmup
    assert model.lr_at(1000) == model.lr_at(10**6) == pytest.approx(1e-4)
    # BetaWarmupCallback increments its counter first: step s uses ratio (s + 1) / 20000.
    assert model.beta_at(0) == pytest.approx(1e-6 ** (1 - 1 / 20000) * 0.05 ** (1 / 20000))
    assert model.beta_at(19_999) == model.beta_at(10**6) == pytest.approx(0.05)


def test_spectral_distance_gradient_is_finite_on_digital_silence():
    """The causal PQMF's synthesis starts with exact zeros: |S| = 0 frames must give a zero
    gradient (as torch.abs does), not inf * 0 = NaN."""
    from ravejobs.model.v2.losses import SpectralDistanceV2

    x = torch.randn(1, 4096)
    y = torch.randn(1, 4096)
    y[:, :1024] = 0
    y.requires_grad_(True)
    SpectralDistanceV2()(x, y).backward()
    assert torch.isfinite(y.grad).all()


def test_the_issue_dry_run_plans_both_v2_models(tmp_path):
    from test_launch import launch

    out = launch(tmp_path / "root", "-m", "model=rave_v2,rave_v2_small", "cluster=narval",
                 "dry_run=true", account="def-test")
    assert out.returncode == 0, out.stderr
    assert "model rave_v2_small" in out.stdout and "model rave_v2," in out.stdout
    out = launch(tmp_path / "root", "-m", "model=rave_v2", "dataset=as", "cluster=narval",
                 "dry_run=true", account="def-test")
    assert out.returncode == 0, out.stderr
    assert "warmup 1000000, budget 6000000" in out.stdout and "kl warmup" in out.stdout
