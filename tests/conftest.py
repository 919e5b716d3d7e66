"""Shared fixtures. `slurm_cluster`: the project's real single-node SLURM, started if needed.

Every test starts from the same random state (`random`, numpy, torch seeded to 0), so no test
depends on the order it runs in (CI runs the fast tests a second time in random order), and
every composition reads a copy of `conf/` without the user's git-ignored `conf/local/` files.

SLURM tests skip, saying exactly why, on a machine where the test cluster cannot start (not
root, packages that cannot be installed). Set RAVEJOBS_REQUIRE_SLURM=1 (CI does) to make that
a failure instead, so a broken cluster cannot pass as skipped tests.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START = REPO / "slurm" / "testcluster" / "start.sh"
NODE = "localnode"


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Each test starts from seed 0 whatever ran before it (torch only once imported)."""
    random.seed(0)
    import numpy as np

    np.random.seed(0)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _conf_without_local(tmp_path_factory) -> Path:
    """tests/compose.py composes a copy of conf/ that leaves out conf/local/ (the user's own)."""
    import compose

    copy = tmp_path_factory.mktemp("conf") / "conf"
    shutil.copytree(REPO / "conf", copy, ignore=lambda d, names: (
        [n for n in names if n != "README.md"] if Path(d).name == "local" else []))
    compose.CONF = copy
    return copy


def _cluster_up() -> tuple[bool, str]:
    """(up, why not): the node is idle (or busy) and sacct answers."""
    if shutil.which("sinfo") is None:
        return False, "sinfo not found (slurm-wlm not installed)"
    try:
        state = subprocess.run(["sinfo", "-h", "-n", NODE, "-o", "%t"], capture_output=True,
                               text=True, timeout=10)
        acct = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True,
                              timeout=10)
    except subprocess.TimeoutExpired:
        return False, "sinfo/sacct did not answer in 10 s"
    if state.returncode != 0:
        return False, f"sinfo failed: {state.stderr.strip()[-200:]}"
    node = state.stdout.strip()
    if node not in ("idle", "mix", "alloc", "comp"):   # busy or completing is up too (shared)
        return False, f"node {NODE} is {node or 'unknown'!r}, not idle"
    if acct.returncode != 0:
        return False, f"sacct failed: {acct.stderr.strip()[-200:]}"
    return True, ""


def _unavailable(why: str) -> None:
    message = f"SLURM test cluster unavailable: {why}"
    if os.environ.get("RAVEJOBS_REQUIRE_SLURM") == "1":
        pytest.fail(message + " (RAVEJOBS_REQUIRE_SLURM=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The test cluster's node name, once the cluster is up; starts it with start.sh if needed."""
    up, why = _cluster_up()
    if up:
        return NODE
    if os.geteuid() != 0:
        _unavailable(f"{why}; and {START} needs root to write /etc/slurm and start daemons "
                     f"(running as uid {os.geteuid()})")
    try:
        done = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        _unavailable(f"{why}; {START} did not finish in 300 s")
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        _unavailable(f"{why}; {START} exited {done.returncode}: {' | '.join(tail)}")
    up, why = _cluster_up()
    if not up:
        _unavailable(f"{START} succeeded but {why}")
    return NODE


def _sbatch(*args: str) -> str:
    done = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, f"sbatch {args} failed: {done.stderr}"
    return done.stdout.strip().split(";")[0]


@pytest.fixture
def sbatch() -> Callable[..., str]:
    """sbatch(*args): submit with an argument list (no shell); returns the job id."""
    return _sbatch


@pytest.fixture
def wait_final() -> Callable[..., dict]:
    """wait_final(ids, expect=N, timeout=60): poll sacct until N records are final."""
    from ravejobs import slurm

    def wait(ids: Iterable[str], expect: int, timeout: float = 60.0) -> dict:
        ids = list(ids)
        deadline = time.monotonic() + timeout
        records: dict = {}
        while time.monotonic() < deadline:
            records = slurm.sacct(ids)
            if len(records) >= expect and all(r.final for r in records.values()):
                return records
            time.sleep(1.0)
        states = {k: r.state for k, r in records.items()}
        raise AssertionError(f"jobs {ids} not final after {timeout:.0f} s: {states}")

    return wait


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for `pytest -n 3 --dist loadgroup --no-loadscope-reorder` (`make test`): all SLURM
    tests on one worker, one after another (they share the one test node and wait on its
    queue), every other module whole on one worker (its module fixtures, often a real training
    run, are made once). Longest first: the SLURM group, then modules by their number of slow
    tests, then the rest, so no long module starts last while the other workers sit idle
    (xdist's own order, most tests first, put the one-test training modules at the end:
    10m53s; 10m07s in file order)."""
    slow = Counter(item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow"))

    def rank(item: pytest.Item) -> tuple[int, int]:
        if item.get_closest_marker("slurm"):
            return 0, 0
        module = item.nodeid.split("::")[0]
        return (1, -slow[module]) if module in slow else (2, 0)   # more slow tests first

    for item in items:
        group = "slurm" if item.get_closest_marker("slurm") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=rank)  # stable: file order within each rank
