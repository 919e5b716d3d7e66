"""Scaling efficiency of one run on several processes (DDP), on the project's test cluster.

The same tiny run is trained twice through the real path (`launch.py`, SLURM, submitit's srun
tasks, Lightning DDP): once on 1 process, once on N processes (`cluster.gpus_per_node=N` on the
test cluster: fake GPUs, gloo on the CPUs). `model.batch` is per rank, so N ranks train N times
the windows per step; efficiency is windows/s at N ranks over N x windows/s at 1 rank, both
measured in this run, one after the other so they do not share the cores.

    sudo bash slurm/testcluster/start.sh && python bench/bench_ddp_scaling.py --ranks 2
    (on a cluster with GPUs: the same with cluster=<profile> and --steps to taste)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ravejobs import slurm  # noqa: E402
from ravejobs.manifest import Manifest  # noqa: E402
from ravejobs.metrics import FILE, read_metrics  # noqa: E402


def run_once(root: Path, ranks: int, steps: int, batch: int, n_signal: int) -> float:
    """Median steps/s of the train stage's logged intervals (the first interval left out)."""
    overrides = ["dataset=demo", "cluster=testslurm", f"cluster.gpus_per_node={ranks}",
                 f"model.batch={batch}", f"model.n_signal={n_signal}", "prior=none",
                 f"phase.warmup={steps}", "phase.gan_steps=1", "train.log_every=5",
                 "stage=all"]
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "launch.py", "-m", *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    found = re.search(r"(sweep-[0-9a-f]{8})", done.stdout + done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"launch failed:\n{done.stdout}{done.stderr}")
    manifest = Manifest.load(root / "sweeps" / found.group(1))
    ids = [r.job_id for r in manifest.runs if r.job_id]
    while not all(r.final for r in slurm.sacct(ids).values()):
        time.sleep(2)
    train = next(r for r in manifest.runs if r.stage == "train")
    path = Path(train.path)
    metrics = (path if path.is_absolute() else root / path) / FILE
    found_rates = read_metrics(metrics)[0].get("steps_per_s", {})
    rates = [found_rates[s][1] for s in sorted(found_rates)]
    if len(rates) < 3:
        raise SystemExit(f"{metrics}: too few intervals logged ({len(rates)})")
    return statistics.median(rates[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=4, help="windows per rank and step")
    parser.add_argument("--n-signal", type=int, default=8192)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ravejobs-ddp-bench ") as tmp:
        one = run_once(Path(tmp) / "one", 1, args.steps, args.batch, args.n_signal)
        many = run_once(Path(tmp) / "many", args.ranks, args.steps, args.batch, args.n_signal)
    w1, wn = one * args.batch, many * args.batch * args.ranks
    print(f"1 rank      : {one:7.2f} steps/s  {w1:8.1f} windows/s")
    print(f"{args.ranks} ranks     : {many:7.2f} steps/s  {wn:8.1f} windows/s")
    print(f"speed-up    : x{wn / w1:.2f} windows/s; scaling efficiency "
          f"{wn / (args.ranks * w1):.0%} (1.0 = linear)")


if __name__ == "__main__":
    main()
