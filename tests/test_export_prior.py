"""The prior inside the exported file computes what the trained prior computes."""

from __future__ import annotations

import torch

from ravejobs.export.scripted import PriorNet
from ravejobs.prior.model import Prior


def test_scripted_prior_gives_the_prior_logits_and_continues_across_calls():
    torch.manual_seed(0)
    prior = Prior(4, resolution=8, res_size=16, skp_size=8, kernel_size=3, cycle_size=2,
                  n_layers=3).eval()
    net = torch.jit.script(PriorNet(prior).eval())
    bins = torch.randint(0, 8, (2, 4, net.history))
    with torch.no_grad():
        expected = prior.split(prior(prior.quant.one_hot(bins[..., -net.context:])))[:, :, -1]
        got = net.logits(bins)
    assert torch.allclose(got, expected, atol=1e-5)

    # temperature 0 is the argmax chain: two calls of 3 frames continue one 6-frame sequence
    with torch.no_grad():
        a = torch.cat([net(torch.zeros(1, 3), False), net(torch.zeros(1, 3), False)], -1)
        fresh = torch.jit.script(PriorNet(prior).eval())
        b = fresh(torch.zeros(1, 6), False)
        sampled = fresh(torch.full((1, 5), 1.0), True)
    assert torch.equal(a, b) and a.shape == (1, 4, 6)
    assert sampled.shape == (1, 4, 5) and torch.isfinite(sampled).all()
    assert float(sampled.abs().max()) <= 4.0
