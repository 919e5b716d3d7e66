"""Loader throughput: random rave_v1 training windows per second from a packed store.

Need: a GPU at 35 steps/s of rave_v1 consumes batch 8 x 65536 samples per step = 18.35 M
samples/s; the target is 5x that. Baseline measured in the same run: the same random windows read
from the individual wav files with soundfile (what a loader over thousands of small files does).
Usage: python bench/bench_loader.py [--minutes 10] [--steps 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

STEPS_PER_S, BATCH, N_SIGNAL, SR = 35, 8, 65536, 48000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()

    from ravejobs.data.loader import WindowSampler
    from ravejobs.data.store import pack

    need = STEPS_PER_S * BATCH * N_SIGNAL
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        n_files = 20
        per = int(args.minutes * 60 * SR / n_files)
        signals = [(rng.standard_normal(per) * 3000).astype(np.int16) for _ in range(n_files)]
        files = []
        for i, x in enumerate(signals):
            files.append(Path(tmp, f"f{i}.wav"))
            sf.write(files[-1], x, SR, subtype="PCM_16")
        store = pack(Path(tmp, "store"), SR,
                     [({"path": f.name, "variant": 0}, x) for f, x in zip(files, signals,
                                                                         strict=True)])
        sampler = WindowSampler(store, N_SIGNAL, seed=0)
        sampler.batch(0, BATCH)  # page the file in, as after the first epoch
        t0 = time.perf_counter()
        for step in range(args.steps):
            sampler.batch(step, BATCH)
        ours = args.steps * BATCH * N_SIGNAL / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        steps = max(20, args.steps // 5)
        for _ in range(steps):
            for _ in range(BATCH):
                f = files[int(rng.integers(n_files))]
                start = int(rng.integers(0, per - N_SIGNAL))
                sf.read(f, frames=N_SIGNAL, start=start, dtype="float32")
        base = steps * BATCH * N_SIGNAL / (time.perf_counter() - t0)

    print(f"store: {args.minutes:g} min at {SR} Hz; windows {BATCH} x {N_SIGNAL}")
    print(f"GPU need (35 steps/s):    {need / 1e6:8.1f} M samples/s")
    print(f"baseline per-file reads:  {base / 1e6:8.1f} M samples/s")
    print(f"WindowSampler (mmap):     {ours / 1e6:8.1f} M samples/s "
          f"({ours / (BATCH * N_SIGNAL):.0f} steps/s)")
    print(f"ratio vs baseline:        {ours / base:8.2f}")
    print(f"ratio vs GPU need:        {ours / need:8.2f}  (target >= 5: "
          f"{'OK' if ours >= 5 * need else 'BELOW'})")


if __name__ == "__main__":
    main()
