"""A full disk (issue 12 item 6, node side): one line naming the path and the free space in the
footer, state.json and `ravejobs status`; the previous checkpoint stays valid and named.

The storage root is a real 16 MB tmpfs (needs root to mount; skipped otherwise), filled up after
a first stretch of training so that the next checkpoint cannot be written.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from test_train_helpers import corpus, make_run, train  # noqa: F401

from ravejobs.diskfull import DiskFull, as_disk_full, free_bytes
from ravejobs.model import checkpoints


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "full disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path, leave: int) -> None:
    """Take all but `leave` bytes of the file system holding `folder`."""
    with (folder / "filler").open("wb") as fh:
        chunk = b"\0" * (1 << 20)
        while (free_bytes(folder) or 0) > leave + len(chunk):
            fh.write(chunk)
            fh.flush()
        fh.write(b"\0" * max(0, (free_bytes(folder) or 0) - leave))
        fh.flush()
        os.fsync(fh.fileno())


def test_disk_full_says_where_and_keeps_the_previous_checkpoint(
        small_disk, corpus, capsys):  # noqa: F811
    from ravejobs.jobs.runner import StageRunner
    from ravejobs.metrics.cache import MetricsCache
    from ravejobs.status import status_row

    spec, run = make_run(small_disk, corpus, "train.keep_last=2")
    train(run, stop_at=6)
    capsys.readouterr()
    _fill(small_disk, leave=200_000)  # state.json fits, a ~1 MB checkpoint does not
    with pytest.raises(DiskFull):
        StageRunner("train", str(run.path))()
    out = capsys.readouterr().out
    exit_line = next(line for line in out.splitlines() if line.startswith("exit"))
    assert "disk full writing" in exit_line and str(run.checkpoints) in exit_line, exit_line
    assert "free there" in exit_line and "KB free" in exit_line, exit_line
    state = run.state()
    assert state.status == "failed" and state.message.startswith("DiskFull: disk full writing")
    assert "\n" not in state.message
    kept = checkpoints.read(state.checkpoint)  # state.json names a whole checkpoint ...
    assert kept is not None and kept["step"] == state.step == 6  # ... at the step it says
    assert checkpoints.newest_valid(run.checkpoints)[1]["step"] == 6
    row = status_row(run.path, "", {}, MetricsCache(("steps_per_s",)), time.time())
    assert row.state == "failed" and "disk full writing" in row.message
    # room again: running the stage again resumes from step 6 and finishes
    (small_disk / "filler").unlink()
    summary = train(run)
    assert summary["start_step"] == 6 and summary["step"] == spec.phase.max_steps


def test_rolling_keeps_last_in_place_while_writing(tmp_path):
    """keep_last > 1: last.ckpt is never renamed away before the new one is whole."""
    from test_train_checkpoints import payload

    from ravejobs import checkpoint_files

    checkpoints.save_rolling(tmp_path, payload(3), keep_last=3)
    seen = []
    real = checkpoint_files.atomic_torch_save

    def watching(path, obj):
        seen.append(checkpoints.read(tmp_path / checkpoints.LAST)["step"])
        return real(path, obj)

    checkpoint_files.atomic_torch_save = watching
    try:
        checkpoints.save_rolling(tmp_path, payload(6), keep_last=3)
    finally:
        checkpoint_files.atomic_torch_save = real
    assert seen == [3]
    assert checkpoints.read(tmp_path / "last-000000003.ckpt")["step"] == 3
    assert checkpoints.read(tmp_path / checkpoints.LAST)["step"] == 6


def test_torch_short_write_with_little_space_is_disk_full(tmp_path, monkeypatch):
    err = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 628864 vs 1")
    monkeypatch.setattr("ravejobs.diskfull.free_bytes", lambda path: 4096)
    full = as_disk_full(err, tmp_path / "last.ckpt")
    assert full is not None and "4.0 KB free" in str(full)
    monkeypatch.setattr("ravejobs.diskfull.free_bytes", lambda path: 10**12)
    assert as_disk_full(err, tmp_path / "last.ckpt") is None
    assert as_disk_full(OSError(28, "No space left on device", "x"), tmp_path) is not None
