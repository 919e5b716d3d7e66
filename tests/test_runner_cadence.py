"""The runner's checkpoint cadence (jobs/runner.Cadence), one for the model and the prior."""

from __future__ import annotations

from ravejobs.jobs.runner import Cadence


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cadence(every_steps: int = 4, every_minutes: float = 30.0):
    saved: list[tuple[str, int]] = []
    clock = Clock()
    box: dict[str, Cadence] = {}

    def save(reason: str) -> dict:
        saved.append((reason, box["c"].step))
        return {"step": box["c"].step}

    c = Cadence(every_steps, every_minutes, save, clock)
    box["c"] = c
    return c, saved, clock


def walk(c: Cadence, steps: range, **at: dict) -> None:
    for s in steps:
        c.step = s  # what the stage would be at
        c.boundary(s, **at.get(str(s), {}))


def test_every_n_steps_a_milestone_and_the_end():
    c, saved, _ = cadence(every_steps=4)
    c.start(0)
    walk(c, range(1, 11), **{"6": {"milestone": True}, "10": {"final": True}})
    assert saved == [("periodic", 4), ("periodic", 6), ("periodic", 8), ("finished", 10)]


def test_minutes_since_the_last_save_count_from_the_start():
    c, saved, clock = cadence(every_steps=1000, every_minutes=1.0)
    clock.now = 500.0  # setup took long: the clock starts when the stage starts stepping
    c.start(3)
    for s in range(4, 9):
        clock.now += 25.0
        c.step = s
        c.boundary(s)
    assert saved == [("periodic", 6)]  # 75 s after the start; then 50 s: not yet


def test_a_stop_saves_once_and_the_resumed_step_is_not_saved_again():
    c, saved, _ = cadence(every_steps=4)
    c.start(8)  # resumed from a checkpoint at step 8
    c.step = 8
    assert c.save("requeue", 8) is None and saved == []  # that checkpoint holds step 8
    c.step = 9
    assert c.boundary(9, stop="stopped by SIGTERM") == "stopped by SIGTERM"
    assert c.save("stopped by SIGTERM", 9) is None  # the same step: no second write
    assert saved == [("stopped by SIGTERM", 9)]


def test_a_save_that_wrote_nothing_is_not_taken_for_one():
    """Before the stage's state is back (or on a rank that writes nothing) the runner's save
    returns None: the next boundary tries again."""
    tries: list[str] = []
    c = Cadence(1, 30.0, lambda reason: tries.append(reason) and None)
    c.start(0)
    c.boundary(1)
    c.boundary(1, final=True)
    assert tries == ["periodic", "finished"] and c.saved_step == 0
