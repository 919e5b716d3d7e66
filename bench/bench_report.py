"""`ravejobs report` over 100 run folders of 3M steps logged every 100. Target: under 10 s cold.

Each run's metrics.bin holds what training writes: 8 keys every 100 steps (distance, beta, kl,
loss_gen, loss_dis, feature_matching, steps_per_s, phase) and 5 more at each validation
(every 10k steps): 242k records of 28 bytes, ~6.8 MB a run, ~0.7 GB in all (written with
numpy in `MetricsWriter`'s format).

Timed: a cold report (empty metrics cache) and a warm one after every run appended another
30k steps (the cache reads only the new records). Baselines measured in the same run, on the
same rows written as the old metrics.csv (`--sample` runs, scaled to all of them):
the old report's reader, `fastcsv` (the hand-written CSV parser the binary log replaced,
loaded from git history by bench/old_fastcsv.py) asking the report's keys, and the csv-module
reader that old run folders go through now (`ravejobs.metrics.legacy.read_csv`).

Usage: python bench/bench_report.py [--runs 100] [--steps 3000000] [--sample 10]
                                    [--root DIR (kept)]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_S = 10.0
EVERY = 100
VAL_EVERY = 10_000
KEYS = ("distance", "beta", "kl", "loss_gen", "loss_dis", "feature_matching", "steps_per_s",
        "phase")
VAL_KEYS = ("validation", "fidelity_80", "fidelity_90", "fidelity_95", "fidelity_99")


def _digits(m: np.ndarray, col: int, x: np.ndarray, width: int) -> int:
    for j in range(width):
        m[:, col + j] = (x // 10 ** (width - 1 - j)) % 10 + 48
    return col + width


def _put(m: np.ndarray, col: int, text: bytes) -> int:
    m[:, col:col + len(text)] = np.frombuffer(text, np.uint8)
    return col + len(text)


def metrics_bytes(steps: np.ndarray, clock: np.ndarray, values: dict[str, np.ndarray],
                  warmup: int) -> bytes:
    """The rows MetricsWriter would write for these log steps, built a digit column at a time."""
    ms = np.round(clock * 1000).astype(np.int64)
    out: list[bytes] = []
    width = np.char.str_len(steps.astype(str))
    for w in np.unique(width):
        sel = np.flatnonzero(width == w)
        line = w + 1 + 14 + 1
        block = sum(line + len(k) + 1 + (3 if k == "beta" else 1 if k == "phase" else 7) + 1
                    for k in KEYS)
        m = np.empty((len(sel), block), np.uint8)
        col = 0
        for k in KEYS:
            col = _digits(m, col, steps[sel], int(w))
            col = _put(m, col, b",")
            col = _digits(m, col, ms[sel] // 1000, 10)
            col = _put(m, col, b".")
            col = _digits(m, col, ms[sel] % 1000, 3)
            col = _put(m, col, b"," + k.encode() + b",")
            if k == "beta":
                col = _put(m, col, b"0.1")
            elif k == "phase":
                col = _digits(m, col, (steps[sel] > warmup).astype(np.int64), 1)
            else:  # "%.6g" of a value in [1, 10): d.ddddd
                v = np.clip(np.round(values[k][sel] * 1e5).astype(np.int64), 100000, 999999)
                col = _digits(m, col, v // 100000, 1)
                col = _put(m, col, b".")
                col = _digits(m, col, v % 100000, 5)
            col = _put(m, col, b"\n")
        rows = m.tobytes()
        # validation rows after every VAL_EVERY-th step, as training writes them
        cuts = np.flatnonzero(steps[sel] % VAL_EVERY == 0)
        start = 0
        for c in cuts:
            out.append(rows[start * block:(c + 1) * block])
            s, t = int(steps[sel][c]), clock[sel][c]
            dist = values["distance"][sel][c]
            out.append("".join(f"{s},{t:.3f},{k},{x:.6g}\n" for k, x in zip(
                VAL_KEYS, (dist * 1.05, 4, 9, 16, 40), strict=True)).encode())
            start = c + 1
        out.append(rows[start * block:])
    return b"".join(out)


def synth(rng: np.random.Generator, first: int, last: int, warmup: int, sps: float,
          t0: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    steps = np.arange(first, last + 1, EVERY, dtype=np.int64)
    clock = t0 + steps / sps + (steps // 800_000) * 1800.0   # a requeue every ~22 h
    decay = np.exp(-steps / 4e5)
    values = {k: 1.5 + 5 * decay + 0.05 * rng.standard_normal(len(steps)) for k in KEYS}
    values["distance"] += np.where(steps > warmup, 0.4 * np.exp(-(steps - warmup) / 1e5), 0)
    values["steps_per_s"] = np.full(len(steps), min(9.9, sps))
    return steps, clock, values


ALL_KEYS = [*KEYS, *VAL_KEYS]


def records(steps: np.ndarray, clock: np.ndarray, values: dict[str, np.ndarray],
            warmup: int) -> bytes:
    """The records MetricsWriter would append for these log steps, in writing order."""
    from ravejobs.metrics.log import RECORD

    cols = [values[k] if k not in ("beta", "phase") else None for k in KEYS]
    cols[KEYS.index("beta")] = np.full(len(steps), 0.1)
    cols[KEYS.index("phase")] = (steps > warmup).astype(np.float64)
    val = np.flatnonzero(steps % VAL_EVERY == 0)
    dist = values["distance"][val]
    extra = [dist * 1.05, *(np.full(len(val), x) for x in (4.0, 9.0, 16.0, 40.0))]
    # (row of the log step, order within it) for every record, then sorted into file order
    row = np.concatenate([np.repeat(np.arange(len(steps)), len(KEYS)),
                          np.repeat(val, len(VAL_KEYS))])
    code = np.concatenate([np.tile(np.arange(len(KEYS)), len(steps)),
                           np.tile(np.arange(len(KEYS), len(ALL_KEYS)), len(val))])
    value = np.concatenate([np.stack(cols, 1).ravel(), np.stack(extra, 1).ravel()])
    order = np.lexsort((code, row))
    rec = np.empty(len(order), RECORD)
    rec["step"], rec["time"] = steps[row[order]], clock[row[order]]
    rec["key"], rec["value"] = code[order], value[order]
    return rec.tobytes()


def make_runs(root: Path, runs: int, steps: int, sample: Path, samples: int) -> list[Path]:
    """`runs` run folders with metrics.bin; the first `samples` also as old CSV in `sample`."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from ravejobs.config import PhaseSpec, build_runspec
    from ravejobs.metrics.log import MAGIC, keys_file
    from ravejobs.rundir import RunDir

    os.environ.setdefault("SBATCH_ACCOUNT", "def-bench")  # narval's specs need an account
    conf = Path(__file__).resolve().parents[1] / "conf"
    bases = []
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        for ds in ("as", "autechre_old", "viglienzoni", "caterina_barbieri"):
            cfg = compose("config", overrides=[f"dataset={ds}", "dry_run=true", "cluster=narval",
                                               f"storage.root={root}"])
            with open_dict(cfg):
                cfg.pop("hydra", None)
            bases.append(build_runspec(OmegaConf.to_container(cfg, resolve=True)))
    rng = np.random.default_rng(0)
    paths = []
    sample.mkdir(parents=True, exist_ok=True)
    for i in range(runs):
        warmup = (1_000_000, 2_000_000)[i % 2]
        spec = dataclasses.replace(bases[i % 4], seed=i // 4,
                                   phase=PhaseSpec(warmup, steps - warmup))
        run = RunDir.for_spec(spec, "train")
        run.create(spec)
        s, c, v = synth(rng, EVERY, steps, warmup, 9 + i % 3, 1.76e9 + i * 60)
        keys_file(run.metrics_file).write_text("".join(f"{k}\n" for k in ALL_KEYS))
        run.metrics_file.write_bytes(MAGIC + records(s, c, v, warmup))
        if i < samples:
            (sample / f"{i}.csv").write_bytes(b"step,time,key,value\n"
                                              + metrics_bytes(s, c, v, warmup))
        run.update_state(status="running", stage="train", phase="gan", step=steps,
                         max_steps=spec.phase.max_steps, started=1.76e9)
        paths.append(run.path)
    return paths


def append(paths: list[Path], start: int, extra: int) -> None:
    from ravejobs.rundir import RunDir

    rng = np.random.default_rng(1)
    for p in paths:
        s, c, v = synth(rng, start + EVERY, start + extra, 1_000_000, 9, 1.76e9)
        with RunDir.open(p).metrics_file.open("ab") as fh:
            fh.write(records(s, c, v, 1_000_000))


def _timed(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=3_000_000)
    ap.add_argument("--sample", type=int, default=10, help="runs timed for the baselines")
    ap.add_argument("--root", default=None, help="keep the synthetic runs here (made if absent)")
    args = ap.parse_args()

    import old_fastcsv

    from ravejobs.metrics.cache import group_rows
    from ravejobs.metrics.legacy import read_csv
    from ravejobs.report.cli import build_report
    from ravejobs.report.collect import REPORT_KEYS
    from ravejobs.rundir import RunDir

    tmp = Path(args.root or tempfile.mkdtemp(prefix="bench-report-"))
    sample_dir = tmp / "old-csv"
    samples = min(args.sample, args.runs)
    try:
        t0 = time.perf_counter()
        paths = sorted((tmp / "runs").glob("*/run.json"))
        sizes_file = tmp / "sizes-v3.json"   # v3: metrics.bin
        if len(paths) != args.runs or not sizes_file.exists():
            shutil.rmtree(tmp / "runs", ignore_errors=True)
            make_runs(tmp, args.runs, args.steps, sample_dir, samples)
            paths = sorted((tmp / "runs").glob("*/run.json"))
            sizes_file.write_text(json.dumps(
                {str(p.parent): RunDir.open(p.parent).metrics_file.stat().st_size
                 for p in paths}))
        for folder, size in json.loads(sizes_file.read_text()).items():
            os.truncate(RunDir.open(folder).metrics_file, size)   # undo an earlier append
        folders = [p.parent for p in paths]
        size = sum(RunDir.open(p).metrics_file.stat().st_size for p in folders)
        print(f"{len(folders)} runs, {size / 1e9:.2f} GB of metrics.bin "
              f"(made or found in {time.perf_counter() - t0:.1f} s)")
        out = tmp / "report"
        shutil.rmtree(out, ignore_errors=True)

        cold, cold_cpu = _timed(lambda: build_report([str(tmp)], out))
        append(folders, args.steps, 30_000)
        warm, warm_cpu = _timed(lambda: build_report([str(tmp)], out))

        from ravejobs.metrics.cache import MetricsCache

        files = [RunDir.open(p).metrics_file for p in folders]
        reading, reading_cpu = _timed(lambda: [MetricsCache(REPORT_KEYS).read(f) for f in files])
        csvs = sorted(sample_dir.glob("*.csv"))[:samples]
        scale = len(folders) / len(csvs)
        fast = old_fastcsv.load()
        if fast is not None:
            old, old_cpu = _timed(lambda: [fast.read_rows(f, 0, list(REPORT_KEYS)) for f in csvs])
        legacy, legacy_cpu = _timed(lambda: [group_rows(read_csv(f)[0]) for f in csvs[:3]])
        legacy_scale = len(folders) / len(csvs[:3])

        print("                                            wall      CPU (this process)")
        print(f"cold report (empty cache):               {cold:6.2f} s  {cold_cpu:6.2f} s")
        print(f"warm report (+30k steps a run):          {warm:6.2f} s  {warm_cpu:6.2f} s")
        print(f"its metrics reading alone (binary log):  {reading:6.2f} s  {reading_cpu:6.2f} s")
        if fast is not None:
            print(f"baseline: old fastcsv reading alone      {old * scale:6.2f} s  "
                  f"{old_cpu * scale:6.2f} s  ({len(csvs)} runs timed, scaled)")
        else:
            print("baseline: old fastcsv left out (no git history; see bench/old_fastcsv.py)")
        print(f"baseline: legacy csv-module reader       {legacy * legacy_scale:6.2f} s  "
              f"{legacy_cpu * legacy_scale:6.2f} s  ({len(csvs[:3])} runs timed, scaled)")
        print(f"load average during the run: {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs (wall times on a shared machine vary)")
        ratios = [f"cold: {TARGET_S / cold:.2f}x under the {TARGET_S:.0f} s target "
                  f"({'PASS' if cold < TARGET_S else 'FAIL'})"]
        if fast is not None:
            ratios.append(f"reading takes {reading / (old * scale):.2f}x the old fastcsv's "
                          f"time; the whole cold report {cold / (old * scale):.2f}x")
        ratios.append(f"the legacy csv reader takes {legacy * legacy_scale / reading:.0f}x "
                      "the binary log's reading time")
        ratios.append(f"warm is {cold / warm:.1f}x faster than cold")
        print("; ".join(ratios))
    finally:
        if args.root is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
