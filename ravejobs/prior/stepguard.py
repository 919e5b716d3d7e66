"""Hold a signal's handler until the current training step is over.

submitit's USR2 handler calls the job's `checkpoint()` and exits; run in the middle of a step it
would save a half-updated model. Blocking USR2 with `pthread_sigmask` only blocks it for the
main thread: the kernel then hands a process-directed signal to any other thread (torch's
intra-op pool has several), and Python runs the handler in the main thread at the next bytecode,
mid-step. So the guard also swaps in a handler that, during a step, only notes the signal, and
calls the real handler at the step boundary. The mask stays too: it keeps the signal from
interrupting the main thread's system calls during a step.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class StepGuard:
    """`with guard.step(): ...` runs one step; a signal arriving inside is handled after it."""

    def __init__(self, signum: int = signal.SIGUSR2):
        self.signum = signum
        self.active = threading.current_thread() is threading.main_thread()
        self._previous: Any = None
        self._in_step = False
        self._pending: list[FrameType | None] = []

    def __enter__(self) -> StepGuard:
        if self.active:
            self._previous = signal.signal(self.signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:   # None: the old handler was not set from Python; default it
            signal.signal(self.signum,
                          signal.SIG_DFL if self._previous is None else self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._in_step:
            self._pending.append(frame)
        else:
            self._deliver(frame)

    def _deliver(self, frame: FrameType | None) -> None:
        handler = self._previous
        if callable(handler):
            handler(self.signum, frame)
        elif handler == signal.SIG_DFL:      # no handler installed: behave as without us
            signal.signal(self.signum, signal.SIG_DFL)
            signal.raise_signal(self.signum)

    @contextmanager
    def step(self) -> Iterator[None]:
        if not self.active:
            yield
            return
        mask = {self.signum}
        signal.pthread_sigmask(signal.SIG_BLOCK, mask)
        self._in_step = True
        try:
            yield
        finally:
            self._in_step = False
            signal.pthread_sigmask(signal.SIG_UNBLOCK, mask)   # a blocked one arrives here
            if self._pending:
                frame = self._pending[-1]
                self._pending.clear()
                self._deliver(frame)
