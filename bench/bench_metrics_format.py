"""Which metrics format should the one metrics module read? (issue 13)

One run of 3M steps logged every 100 (8 keys) with a validation every 10k (5 keys): 242k rows.
Timed, cold, in the same process, over `--runs` copies (each file read once, page cache warm):

  binary        metrics.bin as `MetricsWriter` writes it (28-byte records, keys in
                metrics.keys), through `ravejobs.metrics.read_records`: np.fromfile, no parser
  binary/3      the same, asking only the report's three keys
  csv+fastcsv   the old metrics.csv through the 465-line hand-written SWAR parser it replaced
                (loaded from git history by bench/old_fastcsv.py; left out without history)
  csv+fastcsv/3 the same, asking only the report's three keys
  csv+stdlib    the same CSV through the csv module (`metrics/legacy.py`, for old run folders)
  csv+loadtxt   the same CSV through numpy.loadtxt (a well-kept library, no parser of ours)

Each reader ends with the same thing: one sorted, de-duplicated series per key
(`metrics.cache.group_rows`). Writing is timed too: one run's 30k `log` calls through
`MetricsWriter` against the old CSV writer's lines. Ratios are against csv+fastcsv measured in
the same run (csv+stdlib without git history). The report target: 100 runs under 10 s cold.

Usage: python bench/bench_metrics_format.py [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import old_fastcsv  # noqa: E402

from ravejobs.metrics import MetricsWriter, Records, read_records  # noqa: E402
from ravejobs.metrics.cache import group_rows  # noqa: E402
from ravejobs.metrics.legacy import read_csv  # noqa: E402
from ravejobs.metrics.log import MAGIC, RECORD, keys_file  # noqa: E402

KEYS = ("distance", "beta", "kl", "loss_gen", "loss_dis", "feature_matching", "steps_per_s",
        "phase")
VAL_KEYS = ("validation", "fidelity_80", "fidelity_90", "fidelity_95", "fidelity_99")
REPORT = ["distance", "validation", "fidelity_95"]


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
    """What MetricsWriter leaves, written in one go."""
    rec = np.empty(len(step), RECORD)
    rec["step"], rec["time"], rec["key"], rec["value"] = step, clock, key, value
    path.write_bytes(MAGIC + rec.tobytes())
    keys_file(path).write_text("".join(f"{k}\n" for k in keys))


def batches(step, clock, key, value, keys):
    """The log calls training makes: one dict per logged step."""
    bounds = np.flatnonzero(np.diff(step)) + 1
    for idx in np.split(np.arange(len(step)), bounds):
        yield int(step[idx[0]]), dict(zip([keys[k] for k in key[idx]], value[idx].tolist(),
                                          strict=True)), float(clock[idx[0]])


def time_writers(folder: Path, data) -> dict[str, float]:
    """Seconds to log one run through MetricsWriter, and through the old CSV writer's lines."""
    calls = list(batches(*data))
    out = {}
    start = time.perf_counter()
    w = MetricsWriter(folder / "w.bin")
    for s, values, when in calls:
        w.log(s, values, when)
    w.close()
    out["binary"] = time.perf_counter() - start
    start = time.perf_counter()
    with (folder / "w.csv").open("a", buffering=1) as fh:  # the old writer, line for line
        fh.write("step,time,key,value\n")
        for s, values, when in calls:
            fh.write("".join(f"{s},{when:.3f},{k},{float(v):.6g}\n" for k, v in values.items()))
            fh.flush()
    out["csv"] = time.perf_counter() - start
    return out


def group_old(found) -> dict:
    return group_rows(Records(found.step, found.time, found.code, found.value, found.keys))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    data = rows()
    fast = old_fastcsv.load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(args.runs):
            write_csv(folder / f"m{i}.csv", *data)
            write_binary(folder / f"m{i}.bin", *data)
        csv_mb = (folder / "m0.csv").stat().st_size / 1e6
        bin_mb = (folder / "m0.bin").stat().st_size / 1e6
        print(f"one run: {len(data[0]):,} rows; csv {csv_mb:.1f} MB, binary {bin_mb:.1f} MB")
        readers = {
            "binary": (lambda p: group_rows(read_records(p)[0]), "bin"),
            "binary/3": (lambda p: group_rows(read_records(p, 0, REPORT)[0]), "bin"),
            "csv+stdlib": (lambda p: group_rows(read_csv(p)[0]), "csv"),
            "csv+loadtxt": (read_loadtxt, "csv"),
        }
        if fast is not None:
            readers["csv+fastcsv"] = (lambda p: group_old(fast.read_rows(p, 0, None)[0]), "csv")
            readers["csv+fastcsv/3"] = (lambda p: group_old(fast.read_rows(p, 0, REPORT)[0]),
                                        "csv")
        else:
            print(f"(no git history with {old_fastcsv.PATH}: the fastcsv rows are left out)")
        runs = {"csv+stdlib": min(2, args.runs), "csv+loadtxt": min(2, args.runs)}
        times = {}
        for name, (read, ext) in readers.items():
            n = runs.get(name, args.runs)
            start = time.perf_counter()
            for i in range(n):
                got = read(folder / f"m{i}.{ext}")
            times[name] = (time.perf_counter() - start) / n
            assert len(got) == (3 if name.endswith("/3") else len(KEYS) + len(VAL_KEYS)), name
        base_name = "csv+fastcsv" if fast is not None else "csv+stdlib"
        base = times[base_name]
        print(f"{'reader':<14}{'s per run':>10}{'100 runs':>10}{'x ' + base_name:>15}")
        for name, t in times.items():
            print(f"{name:<14}{t:>10.3f}{t * 100:>9.1f}s{t / base:>14.2f}x")
        w = time_writers(folder, data)
        print(f"writing one run ({len(list(batches(*data))):,} log calls): binary "
              f"{w['binary']:.2f} s, old csv writer {w['csv']:.2f} s "
              f"({w['binary'] / w['csv']:.2f}x)")


def read_loadtxt(path: Path) -> dict:
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=str)
    keys, key = np.unique(data[:, 2], return_inverse=True)
    return group_rows(Records(data[:, 0].astype(np.int64), data[:, 1].astype(float), key,
                              data[:, 3].astype(float), list(keys)))


if __name__ == "__main__":
    main()
