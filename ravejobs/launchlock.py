"""One launch at a time per storage root: the claim that makes each task submitted once.

A launch reads every task's state, plans, submits and records the job ids in the run folders
and the manifest. Two launches doing that at the same moment would both see the same tasks as
new and submit them twice, so the whole read-plan-submit-record step holds an exclusive
`flock` on `<root>/sweeps/.launch.lock`. The lock is per storage root, not per sweep, because
two different sweeps can share runs. A second launch waits (saying who holds the lock) and then
sees the first one's tasks as in the queue, so it skips them and names them.

`flock` works across processes of one machine and on the Alliance's Lustre project space
(mounted with `flock`); a launch killed while holding it releases it with its file descriptor.
On `cluster=local` the launch runs its stages in the foreground, so it holds the lock until they
end.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".launch.lock"


class LaunchBusy(RuntimeError):
    """Another launch kept the storage root's lock longer than we were willing to wait."""


def lock_path(root: str | Path) -> Path:
    return Path(root) / "sweeps" / LOCK_NAME


@contextmanager
def launch_lock(root: str | Path, sweep: str, wait_s: float = 3600.0,
                say: Callable[[str], None] = print) -> Iterator[Path]:
    """Hold the storage root's launch lock; wait for it (telling `say` once who holds it)."""
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = path.read_text().strip() or "another launch"
                if not told:
                    say(f"waiting for {holder} to finish submitting (lock {path})")
                    told = True
                if time.monotonic() > deadline:
                    raise LaunchBusy(f"{path}: still held by {holder} after {wait_s:.0f} s; "
                                     "try again when that launch has returned") from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"launch of {sweep} by {getpass.getuser()} on {socket.gethostname()}"
                       f" (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock
