"""Make tests/data/upstream_v2/<config>.pt from acids-rave 2.3.1 itself (run once, by hand).

Run with the interpreter of the virtual environment ../shared/tools/upstream-rave.sh builds:
    /tmp/upstream-rave/bin/python docs/upstream_v2_reference.py tests/data/upstream_v2
It only calls the installed `rave` package (its gin configs, `rave.RAVE`, its training step)
and stores what it computes; none of upstream's code is in this file or in ravejobs.

Per configuration, at reduced widths (CAPACITY=2, LATENT_SIZE=4, 131072-sample windows, batch
2): upstream's seeded initial weights (torch.manual_seed(0) before `rave.RAVE()`), its receptive
field (`rave.core.get_rave_receptive_field`), and, for inputs drawn from torch.Generator seeds
that the test draws again: the PQMF bands, the encoder output, the decoder output and the
discriminator features with the gradients of fixed probes of them, then three real
`RAVE.training_step` calls (phase 1 generator, phase 2 generator, phase 2 discriminator) with
their logged loss terms and the gradients they leave for the optimizer. Large tensors are kept
as a few statistics (sum, sum of |x|, the first 16 values) per tensor to stay small.
"""

from __future__ import annotations

import os
import sys

import gin
import rave
import rave.core
import torch

CONFIGS = {
    "v2": (["v2"], []),
    "v2_small": (["v2_small"], ["blocks.NoiseGeneratorV2.hidden_size=4"]),
    "v2_causal": (["v2", "causal"], []),
    "v2_wasserstein": (["v2", "wasserstein"], ["NOISE_AUGMENTATION=4"]),
}
COMMON = ["CHANNELS=1", "CAPACITY=2", "LATENT_SIZE=4"]
SIGNAL, BATCH, BETA = 131072, 2, 0.05


def stats(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().double().flatten()
    return torch.cat([torch.stack([t.sum(), t.abs().sum()]), t[:16]]).float()


class Capture:
    """Stands in for an optimizer: records the gradients it would apply."""

    def __init__(self, named: list[tuple[str, torch.nn.Parameter]]):
        self.named, self.grads = named, {}

    def zero_grad(self) -> None:
        for _, p in self.named:
            p.grad = None

    def step(self) -> None:
        self.grads = {n: stats(p.grad) for n, p in self.named if p.grad is not None}


def ordered(model: torch.nn.Module, prefix: str) -> list[tuple[str, torch.nn.Parameter]]:
    """Parameters of a sub-module; the decoder's main stack first, then waveform, then noise."""
    named = [(n, p) for n, p in model.named_parameters() if n.startswith(prefix + ".")]
    rank = {"decoder.net.": 0, "decoder.waveform_module.": 1, "decoder.noise_module.": 2}
    return sorted(named, key=lambda np_: next((v for k, v in rank.items()
                                                if np_[0].startswith(k)), 0))


def make(name: str) -> dict:
    files, bindings = CONFIGS[name]
    gin.clear_config()
    configs = os.path.join(os.path.dirname(rave.__file__), "configs")
    gin.add_config_file_search_path(os.path.dirname(rave.__file__))
    gin.parse_config_files_and_bindings([os.path.join(configs, f"{f}.gin") for f in files],
                                        COMMON + bindings)
    torch.manual_seed(0)
    model = rave.RAVE()
    out: dict = {"config": name, "files": files, "bindings": COMMON + bindings}
    parts = {k: ordered(model, k) for k in ("encoder", "decoder", "discriminator")}
    out["weights"] = {k: [(n, p.detach().clone()) for n, p in v] for k, v in parts.items()}
    out["receptive_field"] = [int(v) for v in rave.core.get_rave_receptive_field(model)]
    model.receptive_field.copy_(torch.tensor(out["receptive_field"]))
    model.train()

    g = torch.Generator().manual_seed(1)
    x = 0.1 * torch.randn(BATCH, 1, SIGNAL, generator=g)
    bands = model.pqmf(x)
    out["bands"] = stats(bands)
    h = model.encoder(bands)
    probe = torch.randn(h.shape, generator=g)
    (h * probe).sum().backward()
    out["encoder"] = {"out": h.detach().clone(),
                      "grads": [stats(p.grad) for _, p in parts["encoder"]]}
    model.zero_grad()

    z = torch.randn(BATCH, model.decoder.net[0].weight.shape[1], h.shape[-1], generator=g)
    torch.manual_seed(2)
    y = model.decoder(z)
    probe = torch.randn(y.shape, generator=g)
    (y * probe).sum().backward()
    out["decoder"] = {"out": stats(y), "grads": [stats(p.grad) for _, p in parts["decoder"]]}
    model.zero_grad()

    features = model.discriminator(x)
    loss = sum(f.pow(2).mean() for net in features for f in net)
    loss.backward()
    out["discriminator"] = {"features": [[stats(f) for f in net] for net in features],
                            "loss": float(loss),
                            "grads": [stats(p.grad) for _, p in parts["discriminator"]]}
    model.zero_grad()

    gen = Capture(parts["encoder"] + parts["decoder"])
    dis = Capture(parts["discriminator"])
    model.optimizers = lambda: (gen, dis)
    logged: dict = {}
    model.log = lambda k, v, **_: logged.__setitem__(k, float(v))
    model.log_dict = lambda d, **_: logged.update({k: float(v) for k, v in d.items()})
    model.beta_factor = BETA
    steps = {}
    for label, warm, batch_idx, seed in (("phase1_gen", False, 1, 3), ("phase2_gen", True, 1, 4),
                                         ("phase2_dis", True, 0, 5)):
        model.warmed_up = warm
        logged.clear()
        gen.grads, dis.grads = {}, {}
        torch.manual_seed(seed)
        model.training_step(x.clone(), batch_idx)
        steps[label] = {"logged": dict(logged), "seed": seed,
                        "gen_grads": [gen.grads.get(n) for n, _ in gen.named],
                        "dis_grads": [dis.grads.get(n) for n, _ in dis.named]}
    out["steps"] = steps
    out["weights_order"] = {k: [n for n, _ in v] for k, v in parts.items()}
    return out


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "tests/data/upstream_v2"
    os.makedirs(target, exist_ok=True)
    for config in sys.argv[2:] or CONFIGS:
        data = make(config)
        torch.save(data, os.path.join(target, f"{config}.pt"))
        print(config, "receptive field", data["receptive_field"],
              {k: v["logged"] for k, v in data["steps"].items()})
