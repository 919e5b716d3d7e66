"""Planning and rendering a 200-run sweep: target under 2 s.

Prints the time to validate 200 composed points, plan them and render every sbatch script, and
the ratio against the 2 s target; the baseline is the same work for 1 run, measured in the same
run, so the per-run cost is visible too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from compose import compose_plain  # noqa: E402

from ravejobs.config import build_runspecs  # noqa: E402
from ravejobs.plan import make_plan  # noqa: E402
from ravejobs.submit import render_sbatch  # noqa: E402


def plan_and_render(points) -> float:
    start = time.perf_counter()
    specs = build_runspecs(points)
    plan = make_plan(specs, max_array_size=1000)
    for array in plan.arrays:
        render_sbatch(array, specs[0].cluster, "sweep-bench", "/tmp/logs", "1")
    return time.perf_counter() - start


def main() -> None:
    os.environ.setdefault("RAVEJOBS_ROOT", tempfile.mkdtemp())
    base = compose_plain(["cluster=narval", "dataset=as", "dry_run=true"])
    points = []
    for i in range(200):
        cfg = {**base, "seed": i, "phase": {**base["phase"], "warmup": 1_000_000 + i}}
        points.append((cfg, (f"seed={i}",)))
    one = min(plan_and_render(points[:1]) for _ in range(3))
    many = min(plan_and_render(points) for _ in range(3))
    print(f"1 run: {one * 1e3:.1f} ms; 200 runs: {many * 1e3:.1f} ms "
          f"({many / one:.0f}x the 1-run baseline); target 2 s: {many / 2.0:.3f} of it")


if __name__ == "__main__":
    main()
