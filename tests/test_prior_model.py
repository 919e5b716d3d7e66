"""The prior network: quantisation, diagonal shift, causality, learning, sampling."""

from __future__ import annotations

import math

import pytest
import torch
from test_prior_helpers import DEMO, ar_latents, one_thread  # noqa: F401

from ravejobs.prior.model import DiagonalShift, Prior, QuantizedNormal, sample

pytestmark = pytest.mark.usefixtures("one_thread")


def demo_prior(k: int = 4) -> Prior:
    torch.manual_seed(0)
    return Prior.from_spec(DEMO, k)


def test_bins_are_equal_probability_under_a_normal():
    q = QuantizedNormal(8)
    bins = q.bins(torch.randn(200_000, generator=torch.Generator().manual_seed(1)))
    counts = torch.bincount(bins, minlength=8).float() / len(bins)
    assert torch.allclose(counts, torch.full((8,), 1 / 8), atol=0.01)


def test_values_fall_back_into_their_bin():
    q = QuantizedNormal(32)
    bins = torch.arange(32)
    assert torch.equal(q.bins(q.values(bins, dither=False)), bins)
    assert torch.equal(q.bins(q.values(bins, generator=torch.Generator().manual_seed(0))), bins)


def test_diagonal_shift_reads_dimension_i_k_minus_1_minus_i_frames_ahead_and_inverts():
    z = torch.arange(3 * 10.0).reshape(1, 3, 10)
    s = DiagonalShift.forward(z)
    assert s.shape == (1, 3, 8)
    for i in range(3):  # dimension 0 leads (upstream): it is predicted first
        assert torch.equal(s[0, i], z[0, i, 2 - i:10 - i])
    assert torch.equal(DiagonalShift.inverse(s), z[..., 2:8])
    with pytest.raises(ValueError, match="at least 3 frames"):
        DiagonalShift.forward(z[..., :2])


def test_prediction_at_t_ignores_later_positions():
    prior = demo_prior()
    x = prior.quant.one_hot(prior.quant.bins(torch.randn(1, 4, 20)))
    y = x.clone()
    y[..., 12:] = prior.quant.one_hot(prior.quant.bins(torch.randn(1, 4, 8)))
    a, b = prior(x), prior(y)
    assert torch.equal(a[..., :12], b[..., :12])
    assert not torch.allclose(a[..., 12:], b[..., 12:])


def test_untrained_loss_is_near_uniform_and_learning_lowers_it():
    prior = demo_prior()
    z = torch.from_numpy(ar_latents(4000)).T.unsqueeze(0)
    windows = z.unfold(-1, 32, 32)[0].permute(1, 0, 2)        # n k 32
    with torch.no_grad():
        first = float(prior.loss(windows))
    assert abs(first - math.log(32)) < 0.5
    opt = torch.optim.Adam(prior.parameters(), lr=2e-2)
    for i in range(40):
        loss = prior.loss(windows[(i * 16) % 112:(i * 16) % 112 + 16])
        opt.zero_grad()
        loss.backward()
        opt.step()
    # AR(1) with rho .95 is far from uniform given the past: the prior must have found that.
    with torch.no_grad():
        assert float(prior.loss(windows)) < first - 0.3


def test_loss_rejects_wrong_latent_size():
    with pytest.raises(ValueError, match="built for 4"):
        demo_prior().loss(torch.randn(2, 5, 32))


def test_sample_shape_determinism_and_temperature():
    prior = demo_prior()
    a = sample(prior, 24, 1.0, batch=2, generator=torch.Generator().manual_seed(3))
    b = sample(prior, 24, 1.0, batch=2, generator=torch.Generator().manual_seed(3))
    assert a.shape == (2, 4, 24) and torch.equal(a, b)
    assert a.abs().max() <= 4
    cold = sample(prior, 24, 0.0, batch=2, generator=torch.Generator().manual_seed(3))
    hot = sample(prior, 24, 5.0, batch=2, generator=torch.Generator().manual_seed(3))
    # Greedy decoding repeats itself: fewer distinct bins than a hot sample.
    assert len(prior.quant.bins(cold).unique()) < len(prior.quant.bins(hot).unique())
    with pytest.raises(ValueError, match="temperature"):
        sample(prior, 4, -1.0)
