"""Training throughput of our RAVE v1, per phase, against upstream's measured figure.

    python bench/train_throughput.py                       # CPU: rave_v1 at batch 8 x 131072
    python bench/train_throughput.py --device cuda --bf16  # GPU: bf16 autocast vs fp32, same run

Upstream acids-rave 2.3.1, v1 config, this 2-core machine: phase 1 at 3.46 s/step (batch 8,
131072-sample windows). The ratio printed is upstream time / our time (> 1: we are faster).
Steps are the real training iterations (RAVE.step_loss + backward + Adam), on random audio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ravejobs.config import KLSpec, ModelSpec  # noqa: E402
from ravejobs.model.module import BETAS, RAVE  # noqa: E402

UPSTREAM_S_PER_STEP = 3.46
TINY = ModelSpec(name="tiny", data_size=8, capacity=8, latent_size=8, ratios=(2, 2, 2),
                 noise_ratios=(2, 2), noise_bands=3, d_capacity=4, d_multiplier=2,
                 d_n_layers=2, sr=16000, n_signal=8192, batch=4, lr=1e-3)


def time_phase(spec: ModelSpec, phase: str, batch: int, n_signal: int, steps: int,
               device: str, bf16: bool) -> tuple[float, float, float]:
    """(wall s/step, CPU s/step, peak memory GB) over `steps` iterations after one warm-up.

    CPU seconds per step are printed too because this machine is shared: wall time alone
    measures the neighbours as much as the model.
    """
    torch.manual_seed(0)
    warmup = 10**9 if phase == "vae" else 0
    model = RAVE(spec, warmup, KLSpec()).to(device).train()
    gen = torch.optim.Adam(list(model.encoder.parameters()) + list(model.decoder.parameters()),
                           lr=spec.lr, betas=BETAS)
    dis = torch.optim.Adam(model.discriminator.parameters(), lr=spec.lr, betas=BETAS)
    x = (torch.rand(batch, n_signal, device=device) * 2 - 1) * 0.5
    autocast = (torch.autocast(device, dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())

    def one(step: int) -> None:
        with autocast:
            kind, loss = model.step_loss(x, step)
        opt = gen if kind == "gen" else dis
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    one(0)  # warm-up (allocations, oneDNN kernel choice); in phase 2 timing starts on a dis step
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(1, 1 + steps):
        one(s)
    sync()
    per_step = (time.perf_counter() - t0) / steps
    cpu_per_step = (time.process_time() - c0) / steps
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process-wide
    return per_step, cpu_per_step, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU), fp32 alongside")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per phase (even: gen+dis)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--n-signal", type=int, default=131072)
    ap.add_argument("--models", default="rave_v1,tiny")
    ap.add_argument("--phases", default="vae,gan")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.steps} timed steps per phase")
    variants = [("fp32", False)] + ([("bf16", True)] if args.bf16 else [])
    print(f"{'model':8} {'phase':5} {'prec':5} {'batch':>5} {'n_signal':>8} {'s/step':>8} "
          f"{'steps/s':>8} {'cpu-s/st':>8} {'peak GB':>8}  vs")
    for name in args.models.split(","):
        spec = ModelSpec() if name == "rave_v1" else TINY
        batch, n = (args.batch, args.n_signal) if name == "rave_v1" else (spec.batch,
                                                                         spec.n_signal)
        for phase in args.phases.split(","):
            fp32 = None
            for label, bf16 in variants:
                s, cpu, peak = time_phase(spec, phase, batch, n, args.steps, args.device, bf16)
                notes = []
                if name == "rave_v1" and phase == "vae" and args.device == "cpu" \
                        and (batch, n) == (8, 131072):
                    notes.append(f"upstream {UPSTREAM_S_PER_STEP} s/step (2 threads): wall x"
                                 f"{UPSTREAM_S_PER_STEP / s:.2f}, CPU-time x"
                                 f"{UPSTREAM_S_PER_STEP * 2 / cpu:.2f}")
                if fp32 is None:
                    fp32 = s
                else:
                    notes.append(f"fp32 {fp32:.3f} s/step: x{fp32 / s:.2f}")
                print(f"{name:8} {phase:5} {label:5} {batch:5d} {n:8d} {s:8.3f} {1 / s:8.2f} "
                      f"{cpu:8.2f} {peak:8.2f}  {'; '.join(notes)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
