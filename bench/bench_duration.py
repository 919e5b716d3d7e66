"""`duration` over 10,000 files: header reads only. Target: under 5 s.

Baseline measured in the same run: decoding every file with soundfile (what counting samples
would cost). Usage: python bench/bench_duration.py [--files 10000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

TARGET_S = 5.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()

    from ravejobs.data.duration import measure
    from ravejobs.durations import format_duration

    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp, "one.wav")
        sf.write(one, np.zeros(int(args.seconds * 16000), np.int16), 16000, subtype="PCM_16")
        data = one.read_bytes()
        one.unlink()
        for i in range(args.files):
            sub = Path(tmp, f"d{i // 1000}")
            sub.mkdir(exist_ok=True)
            (sub / f"f{i:05d}.wav").write_bytes(data)

        t0 = time.perf_counter()
        report = measure(tmp)
        ours = time.perf_counter() - t0

        t0 = time.perf_counter()
        total = 0
        for p in Path(tmp).rglob("*.wav"):
            total += len(sf.read(p, dtype="int16")[0])
        base = time.perf_counter() - t0

    assert report.files == args.files
    print(f"{args.files} files, {format_duration(report.seconds, 'hms')} in all")
    print(f"baseline decode all:  {base:6.2f} s")
    print(f"duration (headers):   {ours:6.2f} s")
    print(f"speed-up vs baseline: {base / ours:6.2f}x")
    print(f"ratio vs 5 s target:  {TARGET_S / ours:6.2f}  {'OK' if ours < TARGET_S else 'SLOW'}")


if __name__ == "__main__":
    main()
