"""Prior training speed: windows from the latent store vs re-encoding audio every step.

Upstream RAVE trains its prior on latents it recomputes at every step by running the frozen
encoder on audio windows. ravejobs encodes the corpus once into a latent store. This runs both
on the same prior, the same encoder and the same synthetic corpus, alternating step by step so
both see the same machine load, and prints steps/s of each and their ratio, plus the one-off cost of
encoding the corpus and the step at which it has paid for itself.

    python bench/bench_prior.py                                   # tiny model, demo prior, CPU
    python bench/bench_prior.py --model rave_v1 --prior default --latent-dims 16 --n-frames 64
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ravejobs.config import KLSpec, ModelSpec, PriorSpec
from ravejobs.prior.latents import LatentWindows, encode_sources
from ravejobs.prior.model import Prior

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from compose import compose_model as model_spec  # noqa: E402
from compose import compose_spec  # noqa: E402


def prior_spec(name: str, n_frames: int | None) -> PriorSpec:
    """conf/prior/<name>.yaml as the launcher composes it, optionally with other n_frames."""
    frames = [] if n_frames is None else [f"prior.n_frames={n_frames}"]
    return compose_spec(["dataset=as", f"prior={name}", *frames, "dry_run=true"]).prior


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


class Method:
    """One way of feeding the prior, with its own copy of the prior and optimiser."""

    def __init__(self, name: str, prior: Prior, batch: Callable[[int], torch.Tensor], lr: float,
                 device: str):
        self.name, self.prior, self.batch, self.device = name, prior, batch, device
        self.opt = torch.optim.Adam(prior.parameters(), lr=lr)
        self.data_s = self.total_s = 0.0
        self.steps = 0

    def step(self, s: int, timed: bool = True) -> None:
        sync(self.device)
        t0 = time.perf_counter()
        z = self.batch(s)
        sync(self.device)
        t1 = time.perf_counter()
        loss = self.prior.loss(z)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        sync(self.device)
        if timed:
            self.data_s += t1 - t0
            self.total_s += time.perf_counter() - t0
            self.steps += 1

    @property
    def rate(self) -> float:
        return self.steps / self.total_s


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
    ap.add_argument("--steps", type=int, default=40, help="timed steps per method")
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
    store = Method("latent store", prior_a, from_store, p.lr, args.device)
    upstream = Method("re-encode per step", prior_b, reencode, p.lr, args.device)
    store.step(0, timed=False), upstream.step(0, timed=False)      # warm-up
    # Step by step, alternating which goes first, so load changes hit both the same way.
    for s in range(1, 1 + args.steps):
        for method in ((store, upstream) if s % 2 else (upstream, store)):
            method.step(s)

    a, b = store.rate, upstream.rate
    saved = 1 / b - 1 / a
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, model {args.model} "
          f"(hop {m.hop}, {enc.latent_size} dims), prior {args.prior} (batch {p.batch}, "
          f"{p.n_frames} frames = {samples} samples per window, "
          f"{sum(x.numel() for x in prior_a.parameters()):,} parameters), {args.steps} steps each")
    print(f"corpus {args.seconds:g} s -> {len(z)} frames; encoding it once took {encode_s:.2f} s")
    for method in (store, upstream):
        per = 1e3 / method.steps
        print(f"{method.name:20s} {method.rate:8.3f} steps/s   batch {method.data_s * per:9.2f} "
              f"ms of {method.total_s * per:9.2f} ms per step")
    print(f"ratio store / re-encode: {a / b:.2f}x")
    if saved > 0:
        print(f"the one-off encoding pays for itself after {encode_s / saved:.0f} steps")


if __name__ == "__main__":
    main()
