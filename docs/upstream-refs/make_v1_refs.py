"""Make tests/data/upstream_v1/*.pt by running upstream RAVE v1 (commit b9e4865) itself.

Not part of ravejobs and never imported by it or by the tests: it is how the reference data
was made, kept so that anyone can make it again (docs/model.md, "Equivalence with upstream").

    git -C <RAVE clone> show b9e4865:<file> > /tmp/up_b9/<file>   # rave/*.py, prior/*.py
    /tmp/upstream-rave/bin/python docs/upstream-refs/make_v1_refs.py /tmp/up_b9 \
        tests/data/upstream_v1

/tmp/upstream-rave is the virtual environment of /work/shared/tools/upstream-rave.sh
(acids-rave 2.3.1's dependencies: cached-conv 2.5.0, pytorch-lightning 1.9.0, torch 2.13 CPU).
Every tensor is float32 on CPU; upstream's own modules compute every value and gradient here.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import torch

warnings.filterwarnings("ignore")
UPSTREAM, OUT = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(UPSTREAM))

from prior.model import Model as Prior  # noqa: E402  (upstream b9e4865)
from rave.core import get_beta_kl_cyclic_annealed  # noqa: E402
from rave.model import RAVE  # noqa: E402

# Reduced widths of every v1 class (upstream's constructors take them as arguments).
SMALL = dict(data_size=4, capacity=4, latent_size=8, ratios=[2, 2], bias=True, loud_stride=1,
             use_noise=True, noise_ratios=[2, 2], noise_bands=3, d_capacity=4, d_multiplier=2,
             d_n_layers=2, warmup=100, mode="hinge", no_latency=False, min_kl=0.1, max_kl=0.1,
             cropped_latent_size=0, feature_match=True, sr=48000)
FULL = dict(SMALL, data_size=16, capacity=64, latent_size=128, ratios=[4, 4, 4, 2],
            noise_ratios=[4, 4, 4], noise_bands=5, d_capacity=16, d_multiplier=4, d_n_layers=4,
            warmup=1_000_000)


def grads(loss: torch.Tensor, named: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    got = torch.autograd.grad(loss, list(named.values()), retain_graph=True, allow_unused=True)
    return {k: (g if g is not None else torch.zeros_like(p)).detach().clone()
            for (k, p), g in zip(named.items(), got, strict=True)}


def audio(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    t = torch.arange(n) / 48000
    tone = 0.4 * torch.sin(2 * math.pi * 220 * t) + 0.2 * torch.sin(2 * math.pi * 3100 * t)
    return (tone + 0.05 * torch.randn(n, generator=g)).reshape(1, 1, n)


def rave_refs() -> dict:
    torch.manual_seed(0)
    model = RAVE(**SMALL)
    x = audio(8192)
    with torch.no_grad():  # one train-mode pass: batch-norm running stats that are not 0 / 1
        model.encoder(model.pqmf(audio(8192) * 0.5))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gen = {f"encoder.{k}": p for k, p in model.encoder.named_parameters()}
    gen.update({f"decoder.{k}": p for k, p in model.decoder.named_parameters()})
    dis = {f"discriminator.{k}": p for k, p in model.discriminator.named_parameters()}
    ref: dict = {"config": SMALL, "state": state, "x": x}

    # Phase 1 step (encoder in train mode, no noise): every intermediate and all gradients.
    torch.manual_seed(1)
    xb = model.pqmf(x)
    mean, scale = model.encoder(xb)
    z, kl = model.reparametrize(mean, scale)
    yb = model.decoder(z, add_noise=False)
    d_bands = model.distance(xb, yb)
    xf, yf = model.pqmf.inverse(xb), model.pqmf.inverse(yb)
    d_full = model.distance(xf, yf)
    loud = (model.loudness(xf) - model.loudness(yf)).pow(2).mean()
    beta = get_beta_kl_cyclic_annealed(step=0, cycle_size=5e4, warmup=SMALL["warmup"] // 2,
                                       min_beta=0.1, max_beta=0.1)
    loss = d_bands + d_full + loud + beta * kl
    # Well-conditioned pieces of that gradient, for tight comparisons: the loss gradient with
    # respect to the decoder output, and parameter gradients for fixed output cotangents.
    yb_leaf = yb.detach().requires_grad_(True)
    yf_leaf = model.pqmf.inverse(yb_leaf)
    loss_y = (model.distance(xb.detach(), yb_leaf) + model.distance(xf.detach(), yf_leaf)
              + (model.loudness(xf.detach()) - model.loudness(yf_leaf)).pow(2).mean())
    (grad_y,) = torch.autograd.grad(loss_y, yb_leaf)
    cot_y = torch.linspace(-1, 1, yb.numel()).reshape(yb.shape)
    cot_m = torch.linspace(-1, 1, mean.numel()).reshape(mean.shape).flip(-1)
    dec = {k: v for k, v in gen.items() if k.startswith("decoder.")}
    enc = {k: v for k, v in gen.items() if k.startswith("encoder.")}
    grad_dec_cot = grads((yb * cot_y).sum(), dec)
    grad_enc_cot = grads((mean * cot_m).sum() + (scale * cot_m.flip(1)).sum(), enc)
    ref["vae"] = {"seed": 1, "grad_y_bands": grad_y, "cot_y": cot_y, "cot_m": cot_m,
                  "grad_decoder_cot": grad_dec_cot, "grad_encoder_cot": grad_enc_cot,
                  "bands": xb, "mean": mean, "scale": scale, "z": z, "kl": kl,
                  "y_bands": yb, "y_full": yf, "distance_bands": d_bands,
                  "distance_full": d_full, "loudness": loud, "beta": beta, "loss_gen": loss,
                  "grad_gen": grads(loss, gen),
                  "bn_running_mean": model.encoder.net[1].running_mean.clone()}

    # Phase 2 step (as training_step with warmed_up): encoder in eval, z detached, noise on.
    model.load_state_dict(state)
    model.encoder.eval()
    torch.manual_seed(2)
    xb = model.pqmf(x)
    z, kl = model.reparametrize(*model.encoder(xb))
    z, kl = z.detach(), kl.detach()
    yb = model.decoder(z, add_noise=True)
    distance = model.distance(xb, yb)
    xf, yf = model.pqmf.inverse(xb), model.pqmf.inverse(yb)
    distance = distance + model.distance(xf, yf)
    distance = distance + (model.loudness(xf) - model.loudness(yf)).pow(2).mean()
    real, fake = model.discriminator(xf), model.discriminator(yf)
    fm, loss_dis, loss_adv = 0.0, 0.0, 0.0
    for r, f in zip(real, fake, strict=True):
        fm = fm + 10 * sum(abs(a - b).mean() for a, b in zip(r, f, strict=True)) / len(r)
        d, a = model.adversarial_combine(r[-1], f[-1], mode="hinge")
        loss_dis, loss_adv = loss_dis + d, loss_adv + a
    loss_gen = distance + loss_adv + beta * kl + fm
    ref["gan"] = {"seed": 2, "y_bands": yb, "distance": distance, "feature_matching": fm,
                  "loss_adv": loss_adv, "loss_dis": loss_dis, "loss_gen": loss_gen,
                  "grad_gen": grads(loss_gen, gen), "grad_dis": grads(loss_dis, dis)}

    # Validation (validation_step's arithmetic, model in eval): sampled z, full-band distance.
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        xb = model.pqmf(x)
        torch.manual_seed(3)
        z, _ = model.reparametrize(*model.encoder(xb))
        y = model.pqmf.inverse(model.decoder(z, add_noise=False))
        ref["validation"] = {"seed": 3, "distance": model.distance(model.pqmf.inverse(xb), y)}
    return ref


def pqmf_refs() -> dict:
    out = {}
    for bands, atten in ((16, 100), (16, 70), (4, 100)):
        model = RAVE(**dict(SMALL, data_size=bands, no_latency=atten == 70))
        x = audio(4096).requires_grad_(True)
        b = model.pqmf(x)
        g = torch.linspace(-1, 1, b.numel()).reshape(b.shape)
        (gx,) = torch.autograd.grad((b * g).sum(), x)
        y = model.pqmf.inverse(b.detach())
        out[f"{bands}_{atten}"] = {"x": x.detach(), "bands": b.detach(), "inverse": y.detach(),
                                   "grad_x": gx, "prototype": model.pqmf.h.clone()}
    return out


def prior_refs() -> dict:
    class Fake(torch.nn.Module):  # what upstream's Prior reads from an exported model
        def __init__(self):
            super().__init__()
            self.register_buffer("sampling_rate", torch.tensor(48000))
            self.cropped_latent_size = 4

        def forward(self, x):
            return x

    path = OUT / "_fake_vae.ts"
    torch.jit.script(Fake()).save(str(path))
    torch.manual_seed(4)
    cfg = dict(resolution=8, res_size=8, skp_size=4, kernel_size=3, cycle_size=2, n_layers=3)
    prior = Prior(**cfg, pretrained_vae=str(path))
    path.unlink()
    z = torch.randn(2, 4, 24)
    shifted = prior.diagonal_shift(z)
    x = prior.quantized_normal.encode(shifted)
    pred = prior(x)
    target = torch.argmax(prior.split_classes(x[..., 1:]), -1)
    logits = prior.split_classes(pred[..., :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 8), target.reshape(-1))
    named = dict(prior.named_parameters())
    state = {k: v.detach().clone() for k, v in prior.state_dict().items()
             if not k.startswith("synth.")}
    return {"config": cfg, "state": state, "z": z, "shifted": shifted, "one_hot": x,
            "logits": pred.detach(), "loss": loss.detach(), "grads": grads(loss, named),
            "inverse": prior.diagonal_shift.inverse(shifted)}


def full_keys() -> dict:
    model = RAVE(**FULL)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def detach(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: detach(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(detach(v) for v in obj)
    return obj


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(detach(rave_refs()), OUT / "rave.pt")
    torch.save(detach(pqmf_refs()), OUT / "pqmf.pt")
    torch.save(detach(prior_refs()), OUT / "prior.pt")
    torch.save(full_keys(), OUT / "full_keys.pt")
    for f in sorted(OUT.iterdir()):
        print(f.name, f.stat().st_size)
