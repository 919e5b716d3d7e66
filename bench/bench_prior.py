"""Prior training speed: windows from the latent store vs re-encoding audio every step.

Upstream RAVE trains its prior on latents it recomputes at every step by running the frozen
encoder on audio windows. ravejobs encodes the corpus once into a latent store. This runs both
on the same prior, the same encoder and the same synthetic corpus, alternating rounds so both
see the same machine load, and prints steps/s of each and their ratio, plus the one-off cost of
encoding the corpus and the step at which it has paid for itself.

    python bench/bench_prior.py                                   # tiny model, demo prior, CPU
    python bench/bench_prior.py --model rave_v1 --prior default --n-frames 32 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from ravejobs.config import KLSpec, ModelSpec, PriorSpec
from ravejobs.prior.latents import LatentWindows, encode_sources
from ravejobs.prior.model import Prior

CONF = Path(__file__).resolve().parents[1] / "conf"


def model_spec(name: str, sr: int) -> ModelSpec:
    """conf/model/<name>.yaml, its `${dataset.sr}` resolved to `sr`."""
    cfg = OmegaConf.create({"dataset": {"sr": sr},
                            "model": OmegaConf.load(CONF / "model" / f"{name}.yaml")})
    d = OmegaConf.to_container(cfg, resolve=True)["model"]
    d["ratios"], d["noise_ratios"] = tuple(d["ratios"]), tuple(d["noise_ratios"])
    return ModelSpec(**d)


def prior_spec(name: str, n_frames: int | None) -> PriorSpec:
    d = OmegaConf.to_container(OmegaConf.load(CONF / "prior" / f"{name}.yaml"), resolve=True)
    spec = PriorSpec(**d)
    return spec if n_frames is None else PriorSpec(**{**d, "n_frames": n_frames})


class FrozenEncoder:
    """The RAVE encoder path (PQMF + encoder means), frozen, with the store's attributes."""

    def __init__(self, spec: ModelSpec, device: str):
        from ravejobs.model.module import RAVE

        self.rave = RAVE(spec, warmup=1, kl=KLSpec()).to(device).eval().requires_grad_(False)
        self.hop, self.sr, self.latent_size = spec.hop, spec.sr, self.rave.kept

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.rave.encode(x)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_step(prior: Prior, batch: Callable[[int], torch.Tensor], lr: float
              ) -> Callable[[int], float]:
    opt = torch.optim.Adam(prior.parameters(), lr=lr)

    def step(s: int) -> float:
        loss = prior.loss(batch(s))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())
    return step


def rate(step: Callable[[int], float], first: int, n: int, device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    for s in range(first, first + n):
        step(s)
    sync(device)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", help="conf/model/<name>.yaml")
    ap.add_argument("--prior", default="demo", help="conf/prior/<name>.yaml")
    ap.add_argument("--sr", type=int, default=None,
                    help="sample rate (default 16000 for tiny, 48000 otherwise)")
    ap.add_argument("--latent-dims", type=int, default=None,
                    help="model.cropped_latent_size: dims the encoder keeps (a trained v1 keeps "
                         "its fidelity size, often 8-32, not all 128)")
    ap.add_argument("--n-frames", type=int, default=None, help="override prior.n_frames")
    ap.add_argument("--seconds", type=float, default=60.0, help="synthetic corpus length")
    ap.add_argument("--steps", type=int, default=20, help="steps per round and method")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    sr = args.sr or (16000 if args.model == "tiny" else 48000)
    m, p = model_spec(args.model, sr), prior_spec(args.prior, args.n_frames)
    if args.latent_dims:
        m = replace(m, cropped_latent_size=args.latent_dims)
    enc = FrozenEncoder(m, args.device)
    rng = np.random.default_rng(0)
    n = int(args.seconds * m.sr) // m.hop * m.hop
    t = np.arange(n) / m.sr
    audio = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.1 * np.sin(t)))
             + 0.05 * rng.standard_normal(n)).astype(np.float32)

    sync(args.device)
    t0 = time.perf_counter()
    z, segments = encode_sources(enc, [audio], chunk=m.n_signal, batch=m.batch,
                                 log=lambda _: None, device=args.device)
    sync(args.device)
    encode_s = time.perf_counter() - t0
    windows = LatentWindows(z, segments, p.n_frames, val_fraction=0.0001, seed=0)
    samples = p.n_frames * m.hop

    def from_store(s: int) -> torch.Tensor:
        return torch.from_numpy(windows.batch(s, p.batch)).to(args.device)

    def reencode(s: int) -> torch.Tensor:   # upstream: audio windows through the frozen encoder
        r = np.random.default_rng((0, s))
        starts = r.integers(0, n - samples, size=p.batch)
        x = torch.from_numpy(np.stack([audio[a:a + samples] for a in starts]))
        return enc.encode(x.unsqueeze(1).to(args.device)).clone()

    torch.manual_seed(0)
    prior_a = Prior.from_spec(p, enc.latent_size).to(args.device)
    prior_b = Prior.from_spec(p, enc.latent_size).to(args.device)
    prior_b.load_state_dict(prior_a.state_dict())
    store_step = make_step(prior_a, from_store, p.lr)
    encode_step = make_step(prior_b, reencode, p.lr)
    store_step(0), encode_step(0)                       # warm-up (allocations, kernels)

    store_rates, encode_rates = [], []
    for r in range(args.rounds):
        first = 1 + r * args.steps
        store_rates.append(rate(store_step, first, args.steps, args.device))
        encode_rates.append(rate(encode_step, first, args.steps, args.device))
    a, b = statistics.median(store_rates), statistics.median(encode_rates)
    saved = 1 / b - 1 / a
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, model {args.model} "
          f"(hop {m.hop}, {enc.latent_size} dims), prior {args.prior} (batch {p.batch}, "
          f"{p.n_frames} frames = {samples} samples per window, "
          f"{sum(x.numel() for x in prior_a.parameters()):,} parameters)")
    print(f"corpus {args.seconds:g} s -> {len(z)} frames; encoding it once took {encode_s:.2f} s")
    print(f"latent store:       {a:8.2f} steps/s   (rounds: "
          f"{', '.join(f'{x:.2f}' for x in store_rates)})")
    print(f"re-encode per step: {b:8.2f} steps/s   (rounds: "
          f"{', '.join(f'{x:.2f}' for x in encode_rates)})")
    print(f"ratio store / re-encode: {a / b:.2f}x")
    if saved > 0:
        print(f"the one-off encoding pays for itself after {encode_s / saved:.0f} steps")


if __name__ == "__main__":
    main()
