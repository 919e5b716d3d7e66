"""Typos and OS errors end in one line naming the setting or the path (issue 12, item 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200", "PYTHONPATH": str(REPO)}


def launch(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "launch.py", *args], cwd=REPO, env=_env(root),
                          capture_output=True, text=True, timeout=timeout)


def ravejobs(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ravejobs.cli", *args], cwd=REPO,
                          env=_env(root), capture_output=True, text=True, timeout=300)


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody can write into: a read-only tmpfs as root, mode 0555 otherwise."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1g", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"root cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.mark.parametrize("typo,hint", [("+phase.warmpu=5", "did you mean phase.warmup=5?"),
                                       ("+cluster.acount=def-x", "cluster.account=def-x"),
                                       # a setting only the schema holds (no conf/ file lists it)
                                       ("+model.streamin=1", "did you mean model.streaming=1?"),
                                       ("+train.foo=1", "docs/config.md")])
def test_an_added_key_no_group_defines_is_refused_with_the_closest(tmp_path, typo, hint):
    out = launch(tmp_path / "root", "-m", typo, "dry_run=true")
    assert out.returncode == 2
    line = next(x for x in out.stderr.splitlines() if typo in x)
    assert hint in line and "would be ignored" in line
    assert not (tmp_path / "root").exists()


def test_an_added_key_some_group_defines_is_accepted(tmp_path):
    out = launch(tmp_path / "root", "-m", "dataset=as", "+phase.max_steps=3e6", "dry_run=true")
    assert out.returncode == 0, out.stderr


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_launch_on_a_read_only_root_is_one_line_naming_it(read_only):
    root = read_only / "ravejobs"
    out = launch(root, "dataset=demo")
    assert out.returncode == 1
    line = _one_line(out)
    assert str(root) in line and ("read-only" in line or "permission" in line), line


def test_prepare_out_on_a_read_only_folder_is_one_line_naming_it(tmp_path, read_only):
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "tone.wav", np.sin(np.arange(16000) / 10).astype("float32") * 0.1, 16000)
    out = ravejobs("prepare", str(audio), "--sr", "16000", "--quiet", "--out",
                   str(read_only / "packed"), root=tmp_path / "root")
    assert out.returncode != 0
    line = _one_line(out)
    assert str(read_only / "packed") in line, line


def test_a_missing_corpus_folder_is_one_line(tmp_path):
    out = ravejobs("prepare", str(tmp_path / "nope"), "--out", str(tmp_path / "out"),
                   root=tmp_path / "root")
    assert out.returncode != 0
    assert str(tmp_path / "nope") in _one_line(out)


@pytest.mark.slow
def test_ctrl_c_during_a_local_run_says_once_what_was_saved(tmp_path):
    root = tmp_path / "root"
    prepared = launch(root, "stage=prepare", timeout=600)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    # A long training, interrupted like a terminal does: SIGINT to the whole process group.
    proc = subprocess.Popen([sys.executable, "launch.py", "stage=train", "phase.warmup=100000",
                             "phase.gan_steps=100000", "train.checkpoint_every_steps=100000"],
                            cwd=REPO, env=_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    metrics = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((root / "runs").glob("03-TR-99-DEMO.*/metrics.bin"))
        if found and found[0].stat().st_size > 200:  # a few steps trained
            metrics = found[0]
            break
        time.sleep(1)
    assert metrics is not None, "training did not start"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)  # EOF: every process holding the pipes ended
    text = out + err
    assert proc.returncode == 130, text
    assert "KeyboardInterrupt" not in text and "Traceback" not in text, text
    stopped = [x for x in err.splitlines() if x.startswith("stopped by Ctrl-C")]
    assert len(stopped) == 1, err
    assert "saved step" in stopped[0] and "resume: type the same command again" in err
    import json

    state = json.loads((metrics.parent / "state.json").read_text())
    assert f"saved step {state['step']} " in stopped[0]
    assert state["step"] > 0 and (metrics.parent / state["checkpoint"]).is_file() or \
        (root / state["checkpoint"]).is_file()
