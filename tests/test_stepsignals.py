"""The one step-boundary signal guard both training loops use (ravejobs.stepsignals)."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from ravejobs.stepsignals import StepBoundarySignals


def busy() -> None:
    for _ in range(1000):   # give a signal every chance to be delivered now, mid-step
        torch.ones(64).sum()


@pytest.fixture
def usr2_seen():
    """A stand-in for submitit's USR2 handler, restored afterwards."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGUSR2, lambda *_: seen.append("handler"))
    yield seen
    signal.signal(signal.SIGUSR2, previous)


def test_time_limit_signal_waits_for_the_step_boundary(usr2_seen):
    with StepBoundarySignals(lambda reason: None) as signals:
        with signals.step():
            os.kill(os.getpid(), signal.SIGUSR2)
            busy()
            usr2_seen.append("step end")
        assert usr2_seen == ["step end", "handler"]
        os.kill(os.getpid(), signal.SIGUSR2)   # between steps: straight through
        busy()
        assert usr2_seen == ["step end", "handler", "handler"]
    os.kill(os.getpid(), signal.SIGUSR2)       # guard gone: the original handler is back
    busy()
    assert len(usr2_seen) == 4


def test_sigterm_asks_to_stop_and_the_step_goes_on():
    reasons: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    with StepBoundarySignals(reasons.append) as signals:
        with signals.step():
            os.kill(os.getpid(), signal.SIGTERM)
            busy()
            finished = True
    assert finished and reasons == ["stopped by SIGTERM"]
    assert signal.getsignal(signal.SIGTERM) == before


def test_signals_someone_else_owns_are_left_alone():
    def theirs(signum, frame):
        raise AssertionError("not called in this test")

    previous = signal.signal(signal.SIGTERM, theirs)
    try:
        with StepBoundarySignals(lambda reason: None):
            assert signal.getsignal(signal.SIGTERM) is theirs   # submitit's, say
            assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL   # not under submitit
    finally:
        signal.signal(signal.SIGTERM, previous)
