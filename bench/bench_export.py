"""Realtime factor of the exported rave_v1 model on ONE CPU core, 2048-sample buffers (nn~).

Builds a randomly initialised RAVE of conf/model/rave_v1.yaml at 48 kHz (speed does not depend
on the weights), exports it as nn~ would load it (the TorchScript file, read back with
`torch.jit.load`), and times `forward` (encode + decode) buffer after buffer, as nn~ calls it.
In the same run, alternating buffer by buffer so both see the same machine load, it times the
baseline: the eager ravejobs model (`encode` then `decode`) on the same buffers.

Prints, for the centred model (streaming with added latency, and each buffer on its own) and
the no_latency one (streaming): seconds of audio per second of compute (> 1 is faster than
realtime), timed as the thread's CPU time (one thread, so what one free core would take; the
wall-clock figure is printed beside it because a shared machine inflates it), the exported/eager
ratio and the added latency; then
generation without input (the `prior` method, upstream-v1 prior size, then `decode`).

    python bench/bench_export.py [--buffers 100] [--model rave_v1] [--sr 48000]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from ravejobs.config import KLSpec, ModelSpec, PriorSpec
from ravejobs.export.scripted import build
from ravejobs.model.module import RAVE
from ravejobs.model.trained import TrainedRAVE
from ravejobs.prior.model import Prior

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from compose import compose_model as model_spec  # noqa: E402

BUFFER = 2048


def exported(trained: TrainedRAVE, streaming: bool,
             prior: Prior | None = None) -> torch.jit.ScriptModule:
    """Script, save to bytes and load back: exactly the module nn~ gets from the .ts file."""
    buffer = io.BytesIO()
    torch.jit.save(build(trained, streaming, prior), buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def run(spec: ModelSpec, buffers: int, streaming: bool) -> dict[str, float]:
    torch.manual_seed(0)
    model = RAVE(spec, warmup=1, kl=KLSpec())
    trained = TrainedRAVE(model, Path("random"), step=2, phase="gan")
    ts = exported(trained, streaming)
    signal = torch.randn(1, 1, BUFFER * (buffers + 5)) * 0.3
    times: dict[str, list[float]] = {"exported": [], "eager": [], "exported_wall": []}
    with torch.inference_mode():
        for i in range(buffers + 5):
            x = signal[..., i * BUFFER:(i + 1) * BUFFER]
            w0, t0 = time.perf_counter(), time.thread_time()
            ts.forward(x)
            w1, t1 = time.perf_counter(), time.thread_time()
            trained.decode(trained.encode(x))
            t2 = time.thread_time()
            if i >= 5:  # the first calls compile and profile the TorchScript graph
                times["exported"].append(t1 - t0)
                times["eager"].append(t2 - t1)
                times["exported_wall"].append(w1 - w0)
    audio = BUFFER / spec.sr
    rates = {k: audio / statistics.median(v) for k, v in times.items()}
    return {**rates, "latency_ms": 1000 * int(ts.forward_latency) / spec.sr}


def run_prior(spec: ModelSpec, buffers: int, latent: int) -> float:
    """x realtime of `prior` then `decode` per buffer (generation with no input signal)."""
    torch.manual_seed(0)
    trained = TrainedRAVE(RAVE(spec, warmup=1, kl=KLSpec()), Path("random"), 2, "gan")
    trained.latent_size = latent
    ts = exported(trained, True, Prior.from_spec(PriorSpec(), latent))
    frames = BUFFER // spec.hop
    temperature = torch.ones(1, 1, frames)
    cpu = []
    with torch.inference_mode():
        for i in range(buffers + 5):
            t0 = time.thread_time()
            ts.decode(ts.prior(temperature))
            if i >= 5:
                cpu.append(time.thread_time() - t0)
    return BUFFER / spec.sr / statistics.median(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--buffers", type=int, default=100)
    p.add_argument("--model", default="rave_v1")
    p.add_argument("--sr", type=int, default=48000)
    args = p.parse_args()
    torch.set_num_threads(1)
    base = model_spec(args.model, args.sr)
    print(f"{args.model} at {args.sr} Hz, {BUFFER}-sample buffers "
          f"({1000 * BUFFER / args.sr:.1f} ms), 1 thread, median of {args.buffers} buffers")
    print("x realtime = seconds of audio per second of this thread's CPU time (what one free "
          "core gives);\nwall = the same against the clock on this (possibly shared) machine")
    print(f"{'mode':40s} {'exported x realtime':>20s} {'(wall)':>7s} {'eager x realtime':>17s} "
          f"{'exported/eager':>15s} {'latency':>9s}")
    for label, no_latency, streaming in (
            ("centred, streaming (default)", False, True),
            ("centred, --no-streaming (each buffer)", False, False),
            ("no_latency, streaming (default)", True, True)):
        r = run(replace(base, no_latency=no_latency), args.buffers, streaming)
        print(f"{label:40s} {r['exported']:20.2f} {r['exported_wall']:7.2f} {r['eager']:17.2f} "
              f"{r['exported'] / r['eager']:15.2f} {r['latency_ms']:6.0f} ms")
    latent = 16
    rate = run_prior(replace(base, no_latency=True), args.buffers, latent)
    print(f"prior (conf/prior/default.yaml, {latent} latent dims) + decode, no_latency: "
          f"{rate:.2f} x realtime")


if __name__ == "__main__":
    main()
