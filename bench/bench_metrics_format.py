"""Which metrics format should the one metrics module read? (issue 13, step 6)

One run of 3M steps logged every 100 (8 keys) with a validation every 10k (5 keys): 242k rows.
Timed, cold, in the same process, over `--runs` copies (each file read once, page cache warm):

  csv+fastcsv   today's metrics.csv through metrics/fastcsv.py (465 lines of SWAR parsing)
  csv+fastcsv/3 the same, asking only the report's three keys (the other rows are skipped)
  csv+stdlib    the same file through csv.reader (`ravejobs.metrics.read_metrics`): baseline
  csv+loadtxt   the same file through numpy.loadtxt (a well-kept library, no parser of ours)
  binary        an append-only log of fixed 26-byte records (int64 step, float64 time,
                uint16 key, float64 value) plus a key list: np.fromfile, no parser at all

Each reader ends with the same thing: one sorted, de-duplicated series per key. Ratios are
against csv+fastcsv in the same run. The report target is 100 runs under 10 s cold.

Usage: python bench/bench_metrics_format.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ravejobs.metrics import read_metrics  # noqa: E402
from ravejobs.metrics.cache import group_rows  # noqa: E402
from ravejobs.metrics.fastcsv import read_rows  # noqa: E402

KEYS = ("distance", "beta", "kl", "loss_gen", "loss_dis", "feature_matching", "steps_per_s",
        "phase")
VAL_KEYS = ("validation", "fidelity_80", "fidelity_90", "fidelity_95", "fidelity_99")
RECORD = np.dtype([("step", "<i8"), ("time", "<f8"), ("key", "<u2"), ("value", "<f8")])


def rows(steps: int = 3_000_000, every: int = 100, val_every: int = 10_000):
    """(step, time, key index, value) arrays in writing order, and the key list."""
    rng = np.random.default_rng(0)
    keys = [*KEYS, *VAL_KEYS]
    log = np.arange(every, steps + 1, every)
    parts = []
    for s in log:
        parts.extend((s, i) for i in range(len(KEYS)))
        if s % val_every == 0:
            parts.extend((s, len(KEYS) + i) for i in range(len(VAL_KEYS)))
    arr = np.array(parts, dtype=np.int64)
    step, key = arr[:, 0], arr[:, 1]
    clock = 1.7e9 + step * 0.3
    value = np.round(rng.random(len(step)) * 10, 4)
    return step, clock, key, value, keys


def write_csv(path: Path, step, clock, key, value, keys) -> None:
    names = np.array(keys)[key]
    cols = zip(step.tolist(), clock.tolist(), names.tolist(), value.tolist(), strict=True)
    lines = [f"{s},{t:.3f},{k},{v:.6g}\n" for s, t, k, v in cols]
    path.write_text("step,time,key,value\n" + "".join(lines))


def write_binary(path: Path, step, clock, key, value, keys) -> None:
    rec = np.empty(len(step), RECORD)
    rec["step"], rec["time"], rec["key"], rec["value"] = step, clock, key, value
    rec.tofile(path)
    path.with_suffix(".keys.json").write_text(json.dumps(keys))


def group(step, clock, key, value, keys) -> dict[str, tuple]:
    """One series per key, sorted by step, the last row of a repeated step kept."""
    out = {}
    order = np.lexsort((np.arange(len(step)), step, key))
    k, s = key[order], step[order]
    last = np.ones(len(order), bool)
    last[:-1] = (k[1:] != k[:-1]) | (s[1:] != s[:-1])
    order = order[last]
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for chunk in np.split(order, bounds):
        if len(chunk):
            out[keys[key[chunk[0]]]] = (step[chunk], clock[chunk], value[chunk])
    return out


def read_fastcsv(path: Path) -> dict:
    found, _ = read_rows(path, 0, None)
    return group_rows(found)


def read_fastcsv_report_keys(path: Path) -> dict:
    """What the report asks for: 3 of the 13 keys (fastcsv skips the other rows' numbers)."""
    found, _ = read_rows(path, 0, ["distance", "validation", "fidelity_95"])
    return group_rows(found)


def read_stdlib(path: Path) -> dict:
    return read_metrics(path)[0]


def read_loadtxt(path: Path) -> dict:
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=str)
    keys, key = np.unique(data[:, 2], return_inverse=True)
    return group(data[:, 0].astype(np.int64), data[:, 1].astype(float), key,
                 data[:, 3].astype(float), list(keys))


def read_binary(path: Path) -> dict:
    rec = np.fromfile(path, RECORD)
    keys = json.loads(path.with_suffix(".keys.json").read_text())
    return group(rec["step"], rec["time"], rec["key"].astype(np.int64), rec["value"], keys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    data = rows()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.runs):
            write_csv(folder / f"m{i}.csv", *data)
            write_binary(folder / f"m{i}.bin", *data)
        csv_mb = (folder / "m0.csv").stat().st_size / 1e6
        bin_mb = (folder / "m0.bin").stat().st_size / 1e6
        print(f"one run: {len(data[0]):,} rows; csv {csv_mb:.1f} MB, binary {bin_mb:.1f} MB")
        readers = {"csv+fastcsv": (read_fastcsv, "csv"),
                   "csv+fastcsv/3": (read_fastcsv_report_keys, "csv"),
                   "csv+stdlib": (read_stdlib, "csv"),
                   "csv+loadtxt": (read_loadtxt, "csv"), "binary": (read_binary, "bin")}
        runs = {"csv+stdlib": min(2, args.runs), "csv+loadtxt": min(2, args.runs)}
        times = {}
        for name, (read, ext) in readers.items():
            n = runs.get(name, args.runs)
            start = time.perf_counter()
            for i in range(n):
                got = read(folder / f"m{i}.{ext}")
            times[name] = (time.perf_counter() - start) / n
            assert len(got) == (3 if name.endswith("/3") else len(KEYS) + len(VAL_KEYS)), name
        base = times["csv+fastcsv"]
        print(f"{'reader':<14}{'s per run':>10}{'100 runs':>10}{'x fastcsv':>11}")
        for name, t in times.items():
            print(f"{name:<14}{t:>10.3f}{t * 100:>9.1f}s{t / base:>10.2f}x")


if __name__ == "__main__":
    main()
