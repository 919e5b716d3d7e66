"""Export takes the newest prior trained on the exported model step, says which, and
`--prior RUN` chooses another (a prior-only re-run used to be ignored silently)."""

from __future__ import annotations

import os
import time

import torch
from test_export_helpers import make_spec
from test_export_job import point, write_checkpoint  # noqa: F401
from test_train_helpers import corpus  # noqa: F401

from ravejobs.cli import main as cli
from ravejobs.export.priors import choose_prior
from ravejobs.prior.model import Prior, save_prior
from ravejobs.rundir import RunDir


def write_prior(spec, model_step: int, layers: int, mtime: float) -> RunDir:
    run = RunDir.for_spec(spec, "prior")
    run.create(spec)
    torch.manual_seed(layers)
    latent = spec.model.cropped_latent_size or spec.model.latent_size
    save_prior(run.path / "prior.pt", Prior(latent, 8, 8, 8, 3, 2, layers),
               model={"step": model_step, "checkpoint": "last.ckpt", "signature": "x"},
               step=5, sr=spec.model.sr, hop=spec.model.hop)
    run.update_state(status="finished", extra={"model": {"step": model_step}})
    os.utime(run.path / "prior.pt", (mtime, mtime))
    return run


def test_newest_prior_on_the_model_step_is_taken_and_said(point, corpus, tmp_path, capsys):  # noqa: F811
    spec, run, audio = point
    write_checkpoint(run, spec, "gan", audio)
    step = spec.phase.max_steps
    run.update_state(status="finished", step=step)
    root = tmp_path / "store $x"
    now = time.time()
    specs = [make_spec(root, corpus, "prior=demo", "model.cropped_latent_size=6",
                       f"prior.n_layers={n}") for n in (2, 3, 4)]
    first = write_prior(specs[0], step, 2, now - 300)
    rerun = write_prior(specs[1], step, 3, now - 100)          # the prior-only re-run
    stale = write_prior(specs[2], step - 1, 4, now)            # newest, but of an older step
    chosen, note = choose_prior(run, step)
    assert chosen is not None and chosen.path == rerun.path
    assert rerun.path.name in note and "1 older one(s)" in note and "--prior" in note

    assert cli(["export", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert f"prior: {rerun.path.name} (the newest trained on model step {step}" in out
    assert str(rerun.path / "prior.pt") in out                   # the summary names the file

    assert cli(["export", str(run.path), "--prior", str(first.path)]) == 0
    out = capsys.readouterr().out
    assert f"prior: {first.path.name} (chosen with --prior)" in out
    assert str(first.path / "prior.pt") in out

    assert cli(["export", str(run.path), "--prior", str(stale.path)]) == 1
    assert "train the prior again" in capsys.readouterr().err


def test_no_prior_on_this_step_is_said_with_the_stale_ones(point, corpus, tmp_path):  # noqa: F811
    spec, run, audio = point
    step = spec.phase.max_steps
    run.update_state(step=step)
    stale = write_prior(make_spec(tmp_path / "store $x", corpus, "prior=demo",
                                  "model.cropped_latent_size=6"), step - 5, 2, time.time())
    chosen, note = choose_prior(run, step)
    assert chosen is None
    assert note == (f"no prior included: none trained on model step {step}; found "
                    f"{stale.path.name} (step {step - 5}): train the prior again (stage=prior)")
