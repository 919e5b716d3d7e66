"""Our v2 modules against acids-rave 2.3.1's own numbers (tests/data/upstream_v2, made by
docs/upstream_v2_reference.py from upstream's installed package; docs/model.md says how).

Upstream's seeded weights are loaded into our modules (parameter order and shapes must agree),
the inputs are drawn again from the same torch.Generator seeds, and PQMF bands, encoder,
decoder and discriminator outputs and gradients, the receptive field, and three training steps
(loss and gradients) must match to 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from compose import compose_spec

from ravejobs.model.v2 import build_model
from ravejobs.model.v2.module import RAVEv2

DATA = Path(__file__).parent / "data" / "upstream_v2"
SIGNAL, BATCH, BETA, WARMUP = 131072, 2, 0.05, 8
OURS = {
    "v2": ["model=rave_v2"],
    "v2_small": ["model=rave_v2_small", "model.noise_hidden=4"],
    "v2_causal": ["model=rave_v2", "model.no_latency=true"],
    "v2_wasserstein": ["model=rave_v2_wasserstein", "model.noise_augmentation=4"],
}
TOL = {"rtol": 1e-5, "atol": 1e-5}
# A whole step's gradients, summarised by sums over many entries: float32 summation order moves
# them by a few 1e-5 (seen: 2.1e-5 on one sum of the Wasserstein generator step).
STEP_TOL = {"rtol": 1e-4, "atol": 5e-5}


def stats(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().double().flatten()
    return torch.cat([torch.stack([t.sum(), t.abs().sum()]), t[:16]]).float()


def close(ours: torch.Tensor, theirs: torch.Tensor, what: str, tol: dict = TOL) -> None:
    torch.testing.assert_close(ours, theirs, **tol, msg=lambda m: f"{what}: {m}")


def ours_for(config: str, ref: dict) -> RAVEv2:
    spec = compose_spec([*OURS[config], "model.capacity=2", "model.latent_size=4",
                         "model.d_capacity=2", f"model.n_signal={SIGNAL}", "kl=fixed",
                         f"kl.beta={BETA}", "dataset=as", "dry_run=true"])
    model = build_model(spec.model, WARMUP, spec.kl)
    for part in ("encoder", "decoder", "discriminator"):
        mine = list(getattr(model, part).parameters())
        theirs = ref["weights"][part]
        assert [tuple(p.shape) for p in mine] == [tuple(t.shape) for _, t in theirs], part
        with torch.no_grad():
            for p, (_, t) in zip(mine, theirs, strict=True):
                p.copy_(t)
    return model.train()


def grads(params: list[torch.nn.Parameter]) -> list[torch.Tensor | None]:
    return [None if p.grad is None else stats(p.grad) for p in params]


def same_grads(ours: list, theirs: list, what: str, tol: dict = TOL) -> None:
    assert [g is None for g in ours] == [g is None for g in theirs], what
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a is not None:
            close(a, b, f"{what} parameter {i}", tol)


# causal and wasserstein repeat the same code paths with other padding / regulariser: slow set.
@pytest.fixture(scope="module", params=[
    "v2", "v2_small", *(pytest.param(c, marks=pytest.mark.slow) for c in ("v2_causal",
                                                                          "v2_wasserstein"))])
def pair(request):
    ref = torch.load(DATA / f"{request.param}.pt", weights_only=True)
    return request.param, ref, ours_for(request.param, ref)


def inputs() -> tuple[torch.Generator, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return g, 0.1 * torch.randn(BATCH, 1, SIGNAL, generator=g)


def test_reference_data_is_small():
    assert sum(f.stat().st_size for f in DATA.glob("*.pt")) < 2_000_000


def test_modules_match_upstream(pair):
    name, ref, model = pair
    model.encoder.requires_grad_(True)
    g, x = inputs()
    bands = model.analyse(x)
    close(stats(bands), ref["bands"], f"{name} PQMF bands")
    h = model.encoder(bands)
    close(h, ref["encoder"]["out"], f"{name} encoder output")
    (h * torch.randn(h.shape, generator=g)).sum().backward()
    same_grads(grads(list(model.encoder.parameters())), ref["encoder"]["grads"],
               f"{name} encoder")
    model.zero_grad()

    latent_in = model.cfg.latent_size + model.cfg.noise_augmentation
    z = torch.randn(BATCH, latent_in, h.shape[-1], generator=g)
    torch.manual_seed(2)
    y = model.decoder(z)
    close(stats(y), ref["decoder"]["out"], f"{name} decoder output")
    (y * torch.randn(y.shape, generator=g)).sum().backward()
    same_grads(grads(list(model.decoder.parameters())), ref["decoder"]["grads"],
               f"{name} decoder")
    model.zero_grad()

    features = model.discriminator(x)
    loss = sum(f.pow(2).mean() for net in features for f in net)
    assert float(loss.detach()) == pytest.approx(ref["discriminator"]["loss"], rel=1e-5)
    for i, (net, theirs) in enumerate(zip(features, ref["discriminator"]["features"],
                                          strict=True)):
        for j, (f, t) in enumerate(zip(net, theirs, strict=True)):
            close(stats(f), t, f"{name} discriminator {i} feature {j}")
    loss.backward()
    same_grads(grads(list(model.discriminator.parameters())), ref["discriminator"]["grads"],
               f"{name} discriminator")
    model.zero_grad()


@pytest.mark.slow
def test_receptive_field_matches_upstream(pair):
    name, ref, model = pair
    from ravejobs.model.v2 import receptive

    # A count of non-zero gradients: at the fringe the contributions vanish into float32
    # zeros, so the count moves with the weights and the latent draw (upstream's own measure
    # gave 10574-10604 for three v2_small initialisations). The right side and the size agree.
    left, right = receptive.measure(model)
    assert right == ref["receptive_field"][1], name
    assert left == pytest.approx(ref["receptive_field"][0], rel=5e-3), name


def upstream_total(logged: dict, config: str) -> float:
    """acids-rave 2.3.1 sums each logged term times weights.get(term, 1) again."""
    again = {"feature_matching": 20.0}
    if config == "v2_wasserstein":
        again.update(fullband_spectral_distance=2.0, multiband_spectral_distance=2.0,
                     adversarial=2.0)
    keys = ("multiband_spectral_distance", "fullband_spectral_distance", "regularization",
            "feature_matching", "adversarial")
    return sum(logged[k] * again.get(k, 1.0) for k in keys if k in logged)


@pytest.mark.parametrize("label,step", [("phase1_gen", 0), ("phase2_gen", WARMUP + 1),
                                        ("phase2_dis", WARMUP)])
def test_training_steps_match_upstream(pair, label, step):
    name, ref, model = pair
    # the module's shared model may come from an adversarial step (encoder frozen, in eval
    # mode): a step starts from a training encoder, as each step of a run does in its phase
    model.train()
    model.encoder.requires_grad_(True)
    model.receptive_field.copy_(torch.tensor(ref["receptive_field"]))
    want = ref["steps"][label]
    _, x = inputs()
    model.zero_grad()
    torch.manual_seed(want["seed"])
    kind, loss = model.step_loss(x.clone(), step)
    loss.backward()
    gen = list(model.encoder.parameters()) + list(model.decoder.parameters())
    if kind == "dis":
        assert label == "phase2_dis"
        assert float(loss.detach()) == pytest.approx(want["logged"]["loss_dis"], rel=1e-5)
        same_grads(grads(list(model.discriminator.parameters())), want["dis_grads"],
                   f"{name} {label}", STEP_TOL)
    else:
        assert float(loss.detach()) == pytest.approx(upstream_total(want["logged"], name), rel=1e-5)
        same_grads(grads(gen), want["gen_grads"], f"{name} {label}", STEP_TOL)
    model.zero_grad()
