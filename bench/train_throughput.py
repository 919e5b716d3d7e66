"""Training throughput of our RAVE v1, per phase, against upstream's measured figure.

    python bench/train_throughput.py                       # CPU: rave_v1 at batch 8 x 131072
    python bench/train_throughput.py --device cuda --bf16  # GPU: bf16 autocast vs fp32, same run
    python bench/train_throughput.py --baseline 5a801b0    # and the model code of a git revision

Comparisons printed:
- `prev` (with --baseline REV), measured in the same run, steps interleaved: the model code of
  that git revision (`ravejobs/` extracted with `git archive` into a temporary folder and
  imported as `ravejobs_prev`). Ratio = prev time / our time (> 1: we are faster).
- `stock`, measured in the same run: the same model and step with the spectral losses on
  `torch.stft(...).abs()` and torch's own autograd (what upstream does), instead of our
  `ravejobs.model.stft` backwards. Ratio = stock time / our time (> 1: we are faster).
- upstream acids-rave 2.3.1, v1 config, measured once on this 2-core machine: phase 1 at
  3.46 s/step (batch 8, 131072-sample windows). It cannot be re-measured here (installing it
  replaces torch), so this ratio is against a recorded figure and carries the machine's noise.
Steps are the real training iterations (RAVE.step_loss + backward + Adam) on random audio. The
time per step is the median over the timed steps: this machine is shared and a neighbour's
burst shows up as one slow step, which a mean would spread over all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ravejobs.config import KLSpec, ModelSpec  # noqa: E402
from ravejobs.model import losses  # noqa: E402
from ravejobs.model.module import RAVE  # noqa: E402
from ravejobs.model.stft import EPS  # noqa: E402

UPSTREAM_S_PER_STEP = 3.46
BACKENDS = ("stock", "ours")
ROOT = Path(__file__).resolve().parents[1]
PREV: dict[str, object] = {}  # the baseline revision's module and config, once loaded


def load_baseline(rev: str) -> None:
    """Import `ravejobs/` as it was at git revision `rev`, renamed `ravejobs_prev`."""
    data = subprocess.run(["git", "archive", rev, "ravejobs"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="ravejobs-prev-"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "ravejobs").rename(folder / "ravejobs_prev")
    for py in (folder / "ravejobs_prev").rglob("*.py"):
        py.write_text(re.sub(r"\bravejobs\b(?=[.\s])", "ravejobs_prev", py.read_text()))
    sys.path.insert(0, str(folder))
    PREV["module"] = importlib.import_module("ravejobs_prev.model.module")
    PREV["config"] = importlib.import_module("ravejobs_prev.config")
TINY = ModelSpec(name="tiny", data_size=8, capacity=8, latent_size=8, ratios=(2, 2, 2),
                 noise_ratios=(2, 2), noise_bands=3, d_capacity=4, d_multiplier=2,
                 d_n_layers=2, sr=16000, n_signal=8192, batch=4, lr=1e-3)


def torch_stft_magnitude(x: torch.Tensor, n: int, hop: int,
                         normalized: bool = False) -> torch.Tensor:
    """The stock baseline: torch.stft's magnitude with torch's autograd."""
    window = torch.hann_window(n, dtype=x.dtype, device=x.device)
    return torch.stft(x, n, hop, n, window=window, center=True, normalized=normalized,
                      return_complex=True).abs()


def torch_log_linear_distance(x: torch.Tensor, y: torch.Tensor, n: int, hop: int,
                              normalized: bool = False) -> torch.Tensor:
    """The stock baseline of `log_linear_distance`: the formula under torch's autograd."""
    sx = torch_stft_magnitude(x, n, hop, normalized)
    sy = torch_stft_magnitude(y, n, hop, normalized)
    lin = torch.linalg.vector_norm(sx - sy) / torch.linalg.vector_norm(sx).clamp_min(EPS)
    return lin + (torch.log(sx + EPS) - torch.log(sy + EPS)).abs().mean()


@contextlib.contextmanager
def spectral_backend(stock: bool):
    """Swap the losses' STFT functions for the stock ones while timing the baseline."""
    ours = losses.stft_magnitude, losses.log_linear_distance
    if stock:
        losses.stft_magnitude, losses.log_linear_distance = (torch_stft_magnitude,
                                                             torch_log_linear_distance)
    try:
        yield
    finally:
        losses.stft_magnitude, losses.log_linear_distance = ours


def make_step(spec: ModelSpec, phase: str, batch: int, n_signal: int, device: str,
              bf16: bool, prev: bool = False) -> Callable[[int], None]:
    """A fresh model and its optimizers; the returned function runs training iteration s."""
    torch.manual_seed(0)
    warmup = 10**9 if phase == "vae" else 0
    if prev:  # the baseline revision's RAVE, built from the same settings
        config: Any = PREV["config"]
        fields = {k: getattr(spec, k) for k in config.ModelSpec.__dataclass_fields__
                  if hasattr(spec, k)}
        model = PREV["module"].RAVE(config.ModelSpec(**fields), warmup,  # type: ignore[attr-defined]
                                    config.KLSpec()).to(device).train()
    else:
        model = RAVE(spec, warmup, KLSpec()).to(device).train()
    # the baseline revision's RAVE may still be a LightningModule (configure_optimizers)
    gen, dis = getattr(model, "make_optimizers", getattr(model, "configure_optimizers", None))()
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

    return one


def time_phase(spec: ModelSpec, phase: str, batch: int, n_signal: int, steps: int,
               device: str, bf16: bool) -> dict[str, tuple[float, float, float]]:
    """Per losses backend: (median wall s/step, mean CPU s/step, peak memory GB).

    The backends' steps alternate (stock, ours, stock, ...) after two warm-up steps each, so a
    neighbour's burst or a drift of the machine slows both alike. CPU seconds per step are
    printed too because this machine is shared: wall time alone measures the neighbours as
    much as the model. On CPU the peak is the process's (both models), on GPU each step's.
    """
    backends = BACKENDS + (("prev",) if PREV else ())
    steppers = {backend: make_step(spec, phase, batch, n_signal, device, bf16,
                                   prev=backend == "prev")
                for backend in backends}
    cuda = device == "cuda"
    walls: dict[str, list[float]] = {b: [] for b in backends}
    cpu = dict.fromkeys(backends, 0.0)
    peak = dict.fromkeys(backends, 0.0)
    for s in range(2 + steps):  # steps 0 and 1 warm up: allocations, kernel choice, Adam state
        for backend, one in steppers.items():
            with spectral_backend(stock=backend == "stock"):
                if cuda:
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                t0, c0 = time.perf_counter(), time.process_time()
                one(s)
                if cuda:
                    torch.cuda.synchronize()
                if s >= 2:
                    walls[backend].append(time.perf_counter() - t0)
                    cpu[backend] += time.process_time() - c0
                    peak[backend] = max(peak[backend], (
                        torch.cuda.max_memory_allocated() / 2**30 if cuda else
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20))
    result = {}
    for backend, w in walls.items():
        if phase == "gan":  # a gen and a dis step alternate: the unit of work is the pair
            w = [(a + b) / 2 for a, b in zip(w[::2], w[1::2], strict=False)]
        result[backend] = (statistics.median(w), cpu[backend] / steps, peak[backend])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU), fp32 alongside")
    ap.add_argument("--steps", type=int, default=4,
                    help="timed steps per phase (even: as many gen as dis steps)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--n-signal", type=int, default=131072)
    ap.add_argument("--models", default="rave_v1,tiny")
    ap.add_argument("--phases", default="vae,gan")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--baseline", metavar="REV",
                    help="also time the model code of this git revision (ratio 'prev')")
    ap.add_argument("--no-stock", action="store_true", help="skip the torch.stft baseline")
    args = ap.parse_args()
    if args.baseline:
        load_baseline(args.baseline)
    if args.no_stock:
        global BACKENDS
        BACKENDS = ("ours",)
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.steps} timed steps per phase")
    variants = [("fp32", False)] + ([("bf16", True)] if args.bf16 else [])
    print(f"{'model':8} {'phase':5} {'prec':5} {'losses':6} {'batch':>5} {'n_signal':>8} "
          f"{'s/step':>8} {'steps/s':>8} {'cpu-s/st':>8} {'peak GB':>8}  vs")
    for name in args.models.split(","):
        spec = ModelSpec() if name == "rave_v1" else TINY
        batch, n = (args.batch, args.n_signal) if name == "rave_v1" else (spec.batch,
                                                                         spec.n_signal)
        for phase in args.phases.split(","):
            fp32 = None
            for label, bf16 in variants:
                timings = time_phase(spec, phase, batch, n, args.steps, args.device, bf16)
                s, cpu, peak = timings["ours"]
                notes = [f"{b} x{timings[b][0] / s:.2f}" for b in timings if b != "ours"]
                if name == "rave_v1" and phase == "vae" and args.device == "cpu" \
                        and (batch, n) == (8, 131072):
                    notes.append(f"upstream {UPSTREAM_S_PER_STEP} s/step x"
                                 f"{UPSTREAM_S_PER_STEP / s:.2f}")
                if fp32 is None:
                    fp32 = s
                else:
                    notes.append(f"fp32 x{fp32 / s:.2f}")
                for backend, (bs, bcpu, bpeak) in timings.items():
                    print(f"{name:8} {phase:5} {label:5} {backend:6} {batch:5d} {n:8d} "
                          f"{bs:8.3f} {1 / bs:8.2f} {bcpu:8.2f} {bpeak:8.2f}  "
                          f"{'; '.join(notes) if backend == 'ours' else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
