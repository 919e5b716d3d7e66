"""The divergence guard: non-finite losses or gradients never reach the weights; the run rolls
back to its last good checkpoint with a new data order, and after MAX_ROLLBACKS stops as
`diverged` (non-zero exit, one line naming step and metric) with prior and export refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from test_train_helpers import corpus, make_run, train  # noqa: F401

from ravejobs.errors import StageDiverged
from ravejobs.jobs.session import MAX_ROLLBACKS
from ravejobs.metrics import read_metrics
from ravejobs.model import checkpoints
from ravejobs.model.fidelity import Fidelity
from ravejobs.model.module import RAVE


def inject_nan(monkeypatch, at: int, times: int | None) -> list[int]:
    """Make the loss of step `at` NaN (`times` times, or always from `at` on when None)."""
    seen: list[int] = []
    real = RAVE.step_loss

    def step_loss(self, audio, step):
        kind, loss = real(self, audio, step)
        hit = step == at if times is not None else step >= at
        if hit and (times is None or len(seen) < times):
            seen.append(step)
            return kind, loss * float("nan")
        return kind, loss
    monkeypatch.setattr(RAVE, "step_loss", step_loss)
    return seen


def finite_state(run) -> bool:
    _, ckpt = checkpoints.newest_valid(run.checkpoints)
    return all(torch.isfinite(v).all() for v in ckpt["state_dict"].values()
               if v.is_floating_point())


def test_one_nan_rolls_back_to_the_last_checkpoint_and_finishes(
        tmp_path, corpus, monkeypatch):  # noqa: F811
    spec, run = make_run(tmp_path, corpus)
    seen = inject_nan(monkeypatch, at=5, times=1)
    summary = train(run)
    assert seen == [5]
    assert summary["reason"] == "finished" and summary["rollbacks"] == 1
    assert run.state().status == "finished"
    _, ckpt = checkpoints.newest_valid(run.checkpoints)
    assert ckpt["rollbacks"] == 1 and ckpt["step"] == spec.phase.max_steps  # new data order
    assert finite_state(run)
    rows, _ = read_metrics(run.metrics_file)
    assert 1.0 in [v for _, v in rows["rollback"].values()]  # recorded in the metrics


def test_nan_every_time_stops_as_diverged_and_blocks_prior_and_export(
        tmp_path, corpus, monkeypatch):  # noqa: F811
    spec, run = make_run(tmp_path, corpus, "phase.warmup=2", "phase.gan_steps=6",
                         "train.checkpoint_every_steps=2")
    seen = inject_nan(monkeypatch, at=5, times=None)
    with pytest.raises(StageDiverged, match=r"diverged at step 5: loss(_gen)? is nan") as err:
        train(run)
    assert len(seen) == MAX_ROLLBACKS + 1  # the first time, then once per rollback
    assert "\n" not in str(err.value)
    state = run.state()
    assert state.status == "diverged" and "step 5" in state.message
    assert finite_state(run)  # nothing non-finite ever reached the weights
    _, ckpt = checkpoints.newest_valid(run.checkpoints)
    assert ckpt["step"] == 4 and ckpt["reason"] != "finished"

    from ravejobs.report.collect import MetricsCache
    from ravejobs.status import status_row

    row = status_row(run.path, "", {}, MetricsCache(), 0.0)
    assert row.state == "diverged" and "step 5" in row.message

    from ravejobs.export.run import ExportRefused
    from ravejobs.jobs.prior import PriorRefused
    from ravejobs.trained_run import load_model

    with pytest.raises(PriorRefused, match="diverged.*no prior for it"):
        load_model(run, "prior", PriorRefused)
    with pytest.raises(ExportRefused, match="diverged.*no export for it"):
        load_model(run, "export", ExportRefused)


def test_absurd_lr_on_tiny_diverges_by_hand_with_exit_code_4(tmp_path, corpus):  # noqa: F811
    _, run = make_run(tmp_path, corpus, "model.lr=1e8")
    cmd = [sys.executable, "-m", "ravejobs.jobs.train", str(run.path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 4, out.stdout + out.stderr
    lines = [x for x in out.stderr.splitlines() if x.startswith("train diverged at step ")]
    assert len(lines) == 1 and "step " in lines[0] and " is " in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.count("rollback") >= MAX_ROLLBACKS
    assert run.state().status == "diverged"


def test_the_pca_never_crashes_on_a_diverged_model():
    fid = Fidelity(4)
    means = torch.randn(2, 4, 50)
    means[0, 1, 3] = float("nan")
    assert not fid.update(means, step=3)
    assert not fid.computed
    means[0, 1, 3] = float("inf")
    assert not fid.update(means, step=3)
