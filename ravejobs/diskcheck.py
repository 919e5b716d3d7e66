"""Before submitting: does what the sweep keeps fit on the storage root?

A full root fails late and obscurely (a half-written checkpoint, hours into a run). The launcher
estimates what the sweep's training runs keep at most: per run, `train.keep_last` rolling
checkpoints, the phase-boundary checkpoint and the temporary of the write in progress, each of
one checkpoint's size; and refuses, with the figures, when the root's free space is smaller.

A checkpoint holds the model's weights and Adam's two moments for each of them: 12 bytes per
parameter. The parameter count is computed without torch (launching never imports it): the
discriminator's exactly from its layer formula, the generator's from a fit to `capacity` squared
(`tests/test_disk_check.py` checks both against `ravejobs.model.module.RAVE`). A run folder
that already holds a checkpoint counts its real size instead, and only what it still has to
add. Quotas (the Alliance's `diskusage_report`) are not visible to this check: the file
system's free space is.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ravejobs.config import ModelSpec, RunSpec

BYTES_PER_PARAMETER = 12  # float32 weight + Adam exp_avg + exp_avg_sq
# Generator: fit to RAVE(ModelSpec()) at capacity 32 / 64 / 96 (4.81M / 17.62M / 38.42M
# parameters, within 2 %); it overestimates much smaller models (tiny: 0.76M for ~60k).
GEN_BASE, GEN_PER_CAPACITY2 = 693_000, 4_099


def _conv(c_in: int, c_out: int, kernel: int, groups: int = 1) -> int:
    return c_out * (c_in // groups) * kernel + 2 * c_out  # weight, bias, weight norm's gain


def discriminator_parameters(model: ModelSpec, scales: int = 3) -> int:
    """Exact count of ravejobs.model.discriminator.MultiScaleDiscriminator's parameters."""
    c, m = model.d_capacity, model.d_multiplier
    total, dim = _conv(1, c, 15), c
    for i in range(model.d_n_layers):
        out = min(1024, c * m ** (i + 1))
        total += _conv(dim, out, 41, m ** (i + 1))  # upstream v1's grouping
        dim = out
    return scales * (total + _conv(dim, dim, 5) + _conv(dim, 1, 1))


def parameters(model: ModelSpec) -> int:
    """Estimated parameters of generator and discriminator."""
    return GEN_BASE + GEN_PER_CAPACITY2 * model.capacity ** 2 + discriminator_parameters(model)


def checkpoint_bytes(model: ModelSpec) -> int:
    return BYTES_PER_PARAMETER * parameters(model)


@dataclass(frozen=True)
class SpaceNeed:
    runs: int
    kept: int            # checkpoints kept per run, the write in progress included
    per_checkpoint: int  # bytes
    needed: int          # bytes the sweep still has to add
    free: int            # bytes free on the storage root

    @property
    def fits(self) -> bool:
        return self.needed <= self.free

    def line(self, root: str | Path) -> str:
        return (f"{root}: the sweep keeps up to {self.kept} checkpoint(s) of ~"
                f"{_gb(self.per_checkpoint)} for each of {self.runs} training run(s): "
                f"{_gb(self.needed)} more; {_gb(self.free)} free")


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def free_bytes(root: str | Path) -> int:
    """Free space for the user at `root` (or its nearest existing parent)."""
    path = Path(root)
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return 0


def space_need(train_specs: Iterable[RunSpec], run_dirs: Iterable[Path], free: int) -> SpaceNeed:
    """What the training runs (spec, run folder) keep at most against `free` bytes."""
    specs, dirs = list(train_specs), list(run_dirs)
    needed = per = kept = 0
    for spec, folder in zip(specs, dirs, strict=True):
        kept = spec.train.keep_last + 2  # rolling, the phase boundary, the write in progress
        existing = [p.stat().st_size for p in (folder / "checkpoints").glob("*.ckpt")
                    if p.is_file()] if (folder / "checkpoints").is_dir() else []
        one = max(existing) if existing else checkpoint_bytes(spec.model)
        per = max(per, one)
        needed += max(0, one * kept - sum(existing))
    return SpaceNeed(runs=len(specs), kept=kept, per_checkpoint=per, needed=needed, free=free)
