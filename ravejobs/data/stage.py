"""Staging: copy a packed store to node-local `$SLURM_TMPDIR` at job start when there is room.

Training reads random windows all the time; from node-local disk (and its page cache) that costs
nothing, from Lustre it is many small reads shared with everyone. The copy is made once per node
and store fingerprint (a requeued job or a second task on the node reuses it), into a temporary
folder renamed into place, so a half copy is never read. Every choice is logged with the reason.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ravejobs.data.store import INDEX, PackedStore

RESERVE_BYTES = 1 << 30  # left free on the node-local disk for everything else the job writes


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def stage_store(packed_dir: str | Path, log: Callable[[str], Any] = print,
                reserve_bytes: int = RESERVE_BYTES) -> Path:
    """The folder to read the store from: a copy under $SLURM_TMPDIR, or `packed_dir` itself."""
    src = PackedStore(packed_dir)
    tmpdir = os.environ.get("SLURM_TMPDIR", "")
    if not tmpdir:
        log(f"staging: SLURM_TMPDIR not set; reading the store in place at {src.path}")
        return src.path
    if not Path(tmpdir).is_dir():
        log(f"staging: SLURM_TMPDIR={tmpdir} is not a folder; reading in place at {src.path}")
        return src.path
    target = Path(tmpdir) / "ravejobs-data" / f"{src.path.name}-{src.fingerprint[:12]}"
    if (target / INDEX).is_file():
        try:
            if PackedStore(target).fingerprint == src.fingerprint:
                log(f"staging: reusing the copy at {target} (fingerprint {src.fingerprint[:12]})")
                return target
        except (OSError, ValueError):
            pass
        shutil.rmtree(target, ignore_errors=True)
    need = src.nbytes + (src.path / INDEX).stat().st_size
    free = shutil.disk_usage(tmpdir).free
    if free < need + reserve_bytes:
        log(f"staging: SLURM_TMPDIR={tmpdir} has {_gib(free)} free, the store needs {_gib(need)} "
            f"plus {_gib(reserve_bytes)} reserve; reading in place at {src.path}")
        return src.path
    t0 = time.perf_counter()
    tmp = target.with_name(f".tmp-{target.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        shutil.copyfile(src.data_file, tmp / src.data_file.name)
        shutil.copyfile(src.path / INDEX, tmp / INDEX)
        os.replace(tmp, target)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if (target / INDEX).is_file():  # another task on this node finished the same copy
            return target
        log(f"staging: copy to {target} failed ({err}); reading in place at {src.path}")
        return src.path
    dt = max(time.perf_counter() - t0, 1e-9)
    log(f"staging: copied {_gib(need)} to {target} in {dt:.1f} s "
        f"({need / dt / (1 << 20):.0f} MiB/s); {_gib(free - need)} left free")
    return target
