"""Deliver stop/requeue signals only between training steps.

submitit's SIGUSR2 handler checkpoints and exits on the spot; arriving in the middle of a step it
would save half-updated weights. The brief's idea was to block SIGUSR2 with pthread_sigmask
during a step; that only blocks it for the main thread, and the kernel then hands the signal to
any other thread (torch's intra-op pool, data workers), after which CPython runs the Python
handler in the main thread mid-step anyway. So instead every watched signal gets a small handler
that, inside a step, only records the signal; `leave_step()` then calls the original handler
(submitit's, or ours) at the step boundary. Outside a step the original runs at once.

SIGTERM and SIGINT are only taken when nobody else handles them (a run by hand); their handler
only raises a flag, so it may run at any time: the loop saves and stops after the current step
instead of dying mid-write. The model's training session and the prior's loop both use this one
class. For Lightning, install before `Trainer.fit`: Lightning then chains our SIGTERM handler
behind its own notifier.

    with StepBoundarySignals(on_stop) as signals:
        while ...:
            with signals.step():
                ...one step...
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any]


class StepBoundarySignals:
    """Defers the time-limit signal to step boundaries; turns SIGTERM/SIGINT into `on_stop`."""

    def __init__(self, on_stop: Callable[[str], None] | None = None):
        self.on_stop = on_stop
        self.stop_reason = ""  # set by SIGTERM / SIGINT: save after the step, then stop
        self.in_step = False
        self.pending: list[int] = []
        self.saved: dict[int, Any] = {}
        self.installed = False

    def install(self) -> None:
        if self.installed or threading.current_thread() is not threading.main_thread():
            return  # once; signal handlers can only be set from the main thread
        self.installed = True
        for sig in (signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
            current = signal.getsignal(sig)
            if sig == signal.SIGUSR2 and not callable(current):
                continue  # nobody asked for USR2 (not under submitit): leave the default
            if sig != signal.SIGUSR2 and current not in (signal.SIG_DFL,
                                                         signal.default_int_handler):
                continue  # submitit (or someone) owns it
            self.saved[sig] = current
            signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved.clear()
        self.installed = False

    def __enter__(self) -> StepBoundarySignals:
        self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def _original(self, sig: int) -> Handler:
        return self.saved[sig]

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGUSR2:
            self.stop_reason = self.stop_reason or f"stopped by {signal.Signals(sig).name}"
            if self.on_stop is not None:
                self.on_stop(self.stop_reason)
        elif self.in_step:
            self.pending.append(sig)
        else:
            self._original(sig)(sig, frame)

    def enter_step(self) -> None:
        self.in_step = True

    def leave_step(self) -> None:
        """Call at a step boundary: runs the handlers of signals that arrived during the step."""
        self.in_step = False
        while self.pending:
            sig = self.pending.pop(0)
            self._original(sig)(sig, None)

    @contextmanager
    def step(self) -> Iterator[None]:
        """One step: a time-limit signal arriving inside is handled when it ends."""
        self.enter_step()
        try:
            yield
        finally:
            self.leave_step()
