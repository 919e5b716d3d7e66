"""`cluster=local`: Ctrl-C stops the running stage after a saved step, said once.

A terminal's Ctrl-C reaches every process of the foreground group: the launcher, submitit's
local controller and the task. The controller would answer with a traceback printed after the
prompt came back, and would SIGKILL the task one second later, perhaps in the middle of saving.
So the controller is started with SIGINT ignored (it inherits that from the launcher while it
is spawned), and the task puts the default handler back: only the task (which saves after its
current step and stops) and the launcher (which waits for that, then says which step was saved
and how to resume) act on it.
"""

from __future__ import annotations

import shlex
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import submitit

from ravejobs.jobs.runner import StageRunner
from ravejobs.rundir import RunDir


class LocalStageRunner(StageRunner):
    """A StageRunner that takes Ctrl-C back (its controller ignores it, see module doc)."""

    def __call__(self) -> Any:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return super().__call__()

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        super().checkpoint(*args, **kwargs)
        return submitit.helpers.DelayedSubmission(LocalStageRunner(self.stage, self.run_dir))


@contextmanager
def ignoring_sigint() -> Iterator[None]:
    """SIGINT ignored while local controllers are spawned (they keep ignoring it)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_after_interrupt(started: Sequence[tuple[RunDir, Any]], wait_s: float = 300.0) -> int:
    """After Ctrl-C: let running tasks save and end, say once what was saved; exit status 130.

    A second Ctrl-C stops waiting (the tasks still stop after their current step).
    """
    running = [(run, job) for run, job in started if not job.done()]
    try:
        deadline = time.monotonic() + wait_s
        while any(not job.done() for _, job in running) and time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    command = shlex.join(["python", *sys.argv])
    lines = []
    for run, _ in running or started[-1:]:
        state = run.state()
        saved = (f"saved step {state.step} ({state.checkpoint})" if state.checkpoint
                 else "nothing saved yet")
        lines.append(f"stopped by Ctrl-C: {run.stage} {run.path.name}: {saved}")
    print("\n".join(lines) + f"\nresume: type the same command again ({command})",
          file=sys.stderr)
    return 130
