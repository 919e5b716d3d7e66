"""RAVE v2 phase-1 training step: ours against acids-rave 2.3.1's own, interleaved in one run.

    python bench/v2_throughput.py                    # rave_v2 vs v2.gin, batch 8 x 131072, CPU
    python bench/v2_throughput.py --model rave_v2_small --config v2_small

Upstream runs in its own virtual environment (../shared/tools/upstream-rave.sh builds it at
/tmp/upstream-rave) as a subprocess, bench/upstream_v2_worker.py, that runs one of its
`RAVE.training_step`s each time it is asked. The two sides take turns step by step (upstream,
ours, upstream, ...), each with every CPU thread while the other waits, so a neighbour's burst
or a drift of this shared machine slows both alike. Both start from the same receptive field
(upstream's, measured on the full-width model: the multiband distance is cropped the same way)
on random audio of the same shape. Printed: median wall seconds per step after two warm-up
steps each, CPU seconds per step, and the ratio upstream / ours (> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from compose import compose_model  # noqa: E402

from ravejobs.config import KLSpec  # noqa: E402
from ravejobs.model.v2.module import RAVEv2  # noqa: E402

# acids-rave 2.3.1's receptive fields (left, right samples), rave.core.get_rave_receptive_field
# on the full-width models of v2.gin and v2_small.gin with one channel.
RECEPTIVE = {"v2": (27117, 26428), "v2_small": (10604, 10044)}


def ours(model_name: str, batch: int, n: int, rf: tuple[int, int]):
    spec = compose_model(model_name, 44100)
    torch.manual_seed(0)
    model = RAVEv2(spec, warmup=10**9, kl=KLSpec(mode="fixed", beta=0.05)).train()
    model.receptive_field.copy_(torch.tensor(rf))
    gen, _ = model.make_optimizers()
    x = torch.randn(batch, 1, n, generator=torch.Generator().manual_seed(1)) * 0.1

    def step(s: int) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        for group in gen.param_groups:
            group["lr"] = model.lr_at(s)
        _, loss = model.step_loss(x, s)
        gen.zero_grad(set_to_none=True)
        loss.backward()
        gen.step()
        return time.perf_counter() - t0, time.process_time() - c0

    return step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rave_v2")
    ap.add_argument("--config", default="v2", choices=sorted(RECEPTIVE))
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--n-signal", type=int, default=131072)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--python", default="/tmp/upstream-rave/bin/python",
                    help="interpreter of upstream's virtual environment")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not Path(args.python).exists():
        print(f"{args.python}: no upstream environment; build it with "
              f"../shared/tools/upstream-rave.sh", file=sys.stderr)
        return 2
    rf = RECEPTIVE[args.config]
    worker = subprocess.Popen(
        [args.python, str(ROOT / "bench" / "upstream_v2_worker.py"), args.config,
         str(args.batch), str(args.n_signal), str(rf[0]), str(rf[1]), str(args.threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": ""})
    assert worker.stdin is not None and worker.stdout is not None
    while (line := worker.stdout.readline()) and line.strip() != "ready":
        pass
    if not line:
        print("upstream worker failed to start", file=sys.stderr)
        return 1
    step = ours(args.model, args.batch, args.n_signal, rf)
    times: dict[str, list[tuple[float, float]]] = {"upstream": [], "ours": []}
    for s in range(2 + args.steps):
        worker.stdin.write("step\n")
        worker.stdin.flush()
        up = tuple(float(v) for v in worker.stdout.readline().split())
        me = step(s)
        if s >= 2:
            times["upstream"].append(up)  # type: ignore[arg-type]
            times["ours"].append(me)
        print(f"step {s}: upstream {up[0]:.3f} s, ours {me[0]:.3f} s", flush=True)
    worker.stdin.write("quit\n")
    worker.stdin.flush()
    worker.wait(timeout=60)
    med = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.mean(c for _, c in v) for k, v in times.items()}
    print(f"{args.model} vs acids-rave 2.3.1 {args.config}.gin, phase 1, batch {args.batch} x "
          f"{args.n_signal}, {args.threads} threads, median of {args.steps} interleaved steps")
    for k in ("upstream", "ours"):
        print(f"  {k:8} {med[k]:7.3f} s/step  cpu {cpu[k]:7.3f} s/step")
    print(f"  ratio upstream / ours: x{med['upstream'] / med['ours']:.2f} (wall), "
          f"x{cpu['upstream'] / cpu['ours']:.2f} (cpu)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
