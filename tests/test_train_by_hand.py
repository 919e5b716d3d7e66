"""`python -m ravejobs.jobs.train RUN_DIR` by hand: SIGTERM saves at a step boundary and stops;
running again resumes from that step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from test_train_helpers import corpus, make_run, train  # noqa: F401

from ravejobs.model import checkpoints


def test_sigterm_saves_and_a_rerun_resumes(tmp_path, corpus):  # noqa: F811
    spec, run = make_run(tmp_path, corpus, "phase.gan_steps=400",
                         "train.checkpoint_every_steps=1000")
    cmd = [sys.executable, "-m", "ravejobs.jobs.train", str(run.path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            state = json.loads(run.state_file.read_text())
            if state["status"] == "running" and state["step"] >= 2:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("training never reached step 2")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out
    assert "stopped by SIGTERM" in out and "run again to resume" in out
    saved = checkpoints.newest_valid(run.checkpoints)[1]
    assert 2 <= saved["step"] < spec.phase.max_steps
    assert saved["reason"] == "stopped by SIGTERM"
    again = train(run, stop_at=saved["step"] + 1)
    assert again["start_step"] == saved["step"] and again["step"] == saved["step"] + 1
