"""The prior inside the exported file computes what the trained prior computes."""

from __future__ import annotations

import torch

from ravejobs.export.scripted import PriorNet
from ravejobs.prior.model import Prior, sample


def small_prior() -> Prior:
    torch.manual_seed(0)
    return Prior(4, resolution=8, res_size=16, skp_size=8, kernel_size=3, cycle_size=2,
                 n_layers=3).eval()


def test_incremental_prior_gives_the_prior_logits_position_by_position():
    prior = small_prior()
    net = torch.jit.script(PriorNet(prior).eval())
    positions = torch.randint(0, 8, (2, 4, 12))
    with torch.no_grad():
        expected = prior.split(prior(prior.quant.one_hot(positions)))       # B k T R
        got = torch.stack([net.logits(positions[..., p]) for p in range(12)], 2)
    assert torch.allclose(got, expected, atol=1e-5)


def test_greedy_generation_matches_prior_sample_and_continues_across_calls():
    prior = small_prior()
    k, n = 4, 6
    with torch.no_grad():
        reference = prior.quant.bins(sample(prior, n, temperature=0.0))     # 1 k n
        net = torch.jit.script(PriorNet(prior).eval())
        calls = [net(torch.zeros(1, 4), False), net(torch.zeros(1, 5), False)]
        z = torch.cat(calls, -1)
        # the frame after position p = t + k - 1 is sample's frame t
        assert torch.equal(prior.quant.bins(z[..., k - 2:k - 2 + n]), reference)
        sampled = net(torch.full((1, 5), 1.0), True)
    assert sampled.shape == (1, k, 5) and torch.isfinite(sampled).all()
    assert float(sampled.abs().max()) <= 4.0


def test_temperature_goes_through_softplus_as_upstream_so_zero_samples():
    """Upstream's exported prior uses softplus(mean temperature) / log 2: an unconnected nn~
    inlet (0) samples at temperature 1, it never becomes a greedy argmax."""
    prior = small_prior()
    net = torch.jit.script(PriorNet(prior).eval())
    with torch.no_grad():
        greedy = prior.quant.bins(net(torch.zeros(1, 40), False))
        net2 = torch.jit.script(PriorNet(prior).eval())
        torch.manual_seed(0)
        sampled = prior.quant.bins(net2(torch.zeros(1, 40), True))
    assert not torch.equal(greedy, sampled)
    t = torch.nn.functional.softplus(torch.tensor(0.0)) / torch.log(torch.tensor(2.0))
    assert float(t) == 1.0
