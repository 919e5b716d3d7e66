"""The model's parts: PQMF, causality of no_latency, fidelity PCA, rave_v1 shapes."""

from __future__ import annotations

import pytest
import torch
from compose import compose_spec

from ravejobs.config import KLSpec
from ravejobs.model.fidelity import Fidelity
from ravejobs.model.module import RAVE, count_parameters
from ravejobs.model.pqmf import PQMF, reverse_half


@pytest.mark.parametrize("bands,attenuation,causal", [(16, 100, False), (8, 70, True)])
def test_pqmf_reconstructs_to_a_delay(bands, attenuation, causal):
    pqmf = PQMF(bands, attenuation, causal)
    x = torch.randn(2, 1, bands * 256)
    sub = pqmf(x)
    assert sub.shape == (2, bands, 256)
    y = pqmf.inverse(sub)
    d = pqmf.delay
    err = (y[..., d:] - x[..., : x.shape[-1] - d])[..., 500:-500]  # ignore edges
    assert float(err.pow(2).mean() / x.pow(2).mean()) < 1e-4  # better than -40 dB


@pytest.mark.parametrize("bands,attenuation,causal", [(16, 100, False), (16, 70, True),
                                                     (2, 100, False), (4, 70, True)])
def test_pqmf_polyphase_synthesis_is_the_transposed_convolution(bands, attenuation, causal):
    pqmf = PQMF(bands, attenuation, causal)
    sub = torch.randn(2, bands, 100, requires_grad=True)
    full = torch.nn.functional.conv_transpose1d(reverse_half(sub), pqmf.h_synthesis,
                                                stride=bands)
    start = pqmf.synthesis_start
    reference = full[..., start:start + 100 * bands] * bands
    ours = pqmf.inverse(sub)
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(reference)
    (g_ours,) = torch.autograd.grad(ours, sub, g)
    (g_ref,) = torch.autograd.grad(reference, sub, g)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-4)


def test_pqmf_rejects_bands_that_are_not_powers_of_two():
    with pytest.raises(ValueError, match="model.data_size=12"):
        PQMF(12)


def tiny_model(*overrides: str) -> RAVE:
    spec = compose_spec(["model=tiny", "dry_run=true", *overrides])
    torch.manual_seed(0)
    return RAVE(spec.model, 10, KLSpec())


def test_no_latency_model_never_looks_ahead():
    model = tiny_model("model.no_latency=true").eval()
    n = model.cfg.hop * 32
    x = torch.randn(1, 1, n)
    x2 = x.clone()
    x2[..., n // 2:] += torch.randn(n - n // 2)  # change only the second half
    with torch.no_grad():
        z, z2 = model.encode(x), model.encode(x2)
    frames = z.shape[-1] // 2
    assert torch.equal(z[..., :frames], z2[..., :frames])
    assert not torch.equal(z, z2)
    with torch.no_grad():
        torch.manual_seed(1)
        y = model.decode(z, add_noise=False)
        y2 = model.decode(torch.cat([z[..., :frames], z2[..., frames:]], -1), add_noise=False)
    assert torch.equal(y[..., : frames * model.cfg.hop], y2[..., : frames * model.cfg.hop])


def test_default_model_looks_ahead_so_the_test_above_can_fail():
    model = tiny_model().eval()
    n = model.cfg.hop * 32
    x = torch.randn(1, 1, n)
    x2 = x.clone()
    x2[..., n // 2:] += 1.0
    with torch.no_grad():
        z, z2 = model.encode(x), model.encode(x2)
    assert not torch.equal(z[..., : z.shape[-1] // 2], z2[..., : z.shape[-1] // 2])


def test_fidelity_with_fewer_frames_than_dimensions():
    fid = Fidelity(16)
    assert not fid.update(torch.randn(1, 16, 1), step=0)  # one frame: nothing to fit
    assert not fid.computed
    means = torch.randn(1, 16, 5)  # 5 frames, 16 dims: rank 4 after centring
    assert fid.update(means, step=7)
    assert fid.computed and int(fid.computed_at) == 7 and int(fid.frames) == 5
    sizes = fid.sizes()
    assert list(sizes) == ["fidelity_80", "fidelity_90", "fidelity_95", "fidelity_99"]
    assert 1 <= sizes["fidelity_80"] <= sizes["fidelity_90"] <= sizes["fidelity_99"] <= 4
    c = fid.components
    assert torch.allclose(c @ c.T, torch.eye(16), atol=1e-5)  # still a complete basis
    p = fid.project(means)
    assert torch.allclose(fid.unproject(p), means, atol=1e-4)
    assert p[:, 4:].abs().max() < 1e-4  # no variance beyond the rank


def test_fidelity_counts_dimensions_of_a_low_rank_latent():
    torch.manual_seed(0)  # a few random bases (7 seeds in 2000) are too ill-conditioned
    fid = Fidelity(8)
    basis = torch.randn(8, 2)
    means = (basis @ torch.randn(2, 400)).unsqueeze(0) + 0.001 * torch.randn(1, 8, 400)
    fid.update(means, step=0)
    assert fid.size(0.95) == 2 and fid.size(0.99) <= 2


def test_cropped_latent_encoder_outputs_cropped_size():
    model = tiny_model("model.cropped_latent_size=3")
    x = torch.randn(2, 1, model.cfg.hop * 16)
    z = model.encode(x)
    assert z.shape == (2, 3, 16)
    assert model.decode(z).shape == x.shape  # the rest of the latent is filled with noise


def test_rave_v1_shapes_and_one_training_step():
    spec = compose_spec(["model=rave_v1", "dry_run=true"])
    m = spec.model
    assert (m.data_size, m.capacity, m.latent_size, m.ratios) == (16, 64, 128, (4, 4, 4, 2))
    torch.manual_seed(0)
    model = RAVE(m, 1, KLSpec())
    # Upstream b9e4865's own counts (train_rave.py defaults), layer for layer.
    assert count_parameters(model.encoder) == 4_836_416
    assert count_parameters(model.decoder) == 12_779_442
    assert count_parameters(model.encoder) + count_parameters(model.decoder) == 17_615_858
    assert count_parameters(model.discriminator) == 16_917_942
    x = torch.randn(1, 1, 4 * m.hop) * 0.1  # 4 latent frames = 8192 samples
    z = model.encode(x)
    assert z.shape == (1, 128, 4)
    assert model.decode(z).shape == x.shape
    kind, loss = model.step_loss(x, step=0)
    assert kind == "gen" and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None for p in model.discriminator.parameters())
    kind, loss = model.step_loss(x, step=1)  # warmup=1: step 1 is an odd adversarial step
    assert kind == "dis" and torch.isfinite(loss)
