"""Prepare throughput: 44.1 kHz stereo int16 wav -> 48 kHz mono store, x-realtime per core.

Target: >= 200x realtime per core. Baseline measured in the same run: `librosa.load(sr=48000,
mono=True)` per file (the usual one-liner; it resamples with soxr too). Both single-process so the
figures are per core. Usage: python bench/bench_prepare.py [--files 8] [--seconds 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

TARGET = 200.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()

    from ravejobs.data.prepare import prepare_corpus

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        src.mkdir()
        rng = np.random.default_rng(0)
        n = int(args.seconds * 44100)
        for i in range(args.files):
            x = (rng.standard_normal((n, 2)) * 3000).astype(np.int16)
            sf.write(src / f"f{i}.wav", x, 44100, subtype="PCM_16")
        audio_s = args.files * args.seconds

        import librosa

        librosa.load(src / "f0.wav", sr=48000, mono=True, duration=1.0)  # imports, JIT warm-up
        t0 = time.perf_counter()
        for p in sorted(src.iterdir()):
            librosa.load(p, sr=48000, mono=True)
        base = audio_s / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        prepare_corpus(src, Path(tmp, "out"), 48000, workers=1, progress=False,
                       log=lambda _: None)
        ours = audio_s / (time.perf_counter() - t0)

    print(f"audio: {args.files} files x {args.seconds:g} s, 44.1 kHz stereo int16 -> 48 kHz mono")
    print(f"baseline librosa.load:  {base:8.0f}x realtime per core")
    print(f"ravejobs prepare:       {ours:8.0f}x realtime per core (incl. packing + fingerprint)")
    print(f"ratio vs baseline:      {ours / base:8.2f}")
    print(f"ratio vs 200x target:   {ours / TARGET:8.2f}  {'OK' if ours >= TARGET else 'BELOW'}")


if __name__ == "__main__":
    main()
