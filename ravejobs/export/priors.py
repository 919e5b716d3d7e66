"""Which prior goes into an export: the newest trained on the exported model step, unless one
is chosen (`ravejobs export RUN --prior PRIOR_RUN`); the choice is always said.

A model can have several priors (a prior-only re-run with other prior settings makes a new
04-TP folder next to the first); they are found by the model signature their spec trains.
"""

from __future__ import annotations

import json
from pathlib import Path

from ravejobs.naming import signature
from ravejobs.rundir import RunDir


def priors_of(model_run: RunDir) -> list[RunDir]:
    """Prior runs next to the model's folder trained on it, with a prior.pt, newest first."""
    found = []
    for folder in model_run.path.parent.glob("04-TP-*"):
        if not (folder / "run.json").is_file() or not (folder / "prior.pt").is_file():
            continue
        try:
            run = RunDir.open(folder)
            if run.stage == "prior" and signature(run.spec(), "train") == model_run.signature:
                found.append(run)
        except (OSError, KeyError, TypeError, ValueError):
            continue
    return sorted(found, key=lambda r: (r.path / "prior.pt").stat().st_mtime, reverse=True)


def prior_model_step(prior_run: RunDir) -> int | None:
    """The model step a prior was trained on (its state.json; prior.pt when that lacks it)."""
    try:
        step = json.loads(prior_run.state_file.read_text())["extra"]["model"]["step"]
        return int(step)
    except (OSError, KeyError, TypeError, ValueError):
        pass
    import torch

    info = torch.load(prior_run.path / "prior.pt", map_location="cpu", weights_only=False)
    step = info.get("model", {}).get("step")
    return None if step is None else int(step)


def choose_prior(model_run: RunDir, model_step: int,
                 chosen: str | Path | None = None) -> tuple[RunDir | None, str]:
    """(prior run or None, one line saying which and why)."""
    if chosen is not None:
        run = RunDir.open(chosen)
        if run.stage != "prior":
            raise ValueError(f"--prior {chosen}: a {run.stage} run, not a prior (04-TP-...)")
        return run, f"prior: {run.path.name} (chosen with --prior)"
    candidates = priors_of(model_run)
    steps = {c.path.name: prior_model_step(c) for c in candidates}
    matching = [c for c in candidates if steps[c.path.name] == model_step]
    if matching:
        others = len(matching) - 1
        more = f"; {others} older one(s) too" if others else ""
        return matching[0], (f"prior: {matching[0].path.name} (the newest trained on model step "
                             f"{model_step}{more}; choose another with --prior RUN)")
    stale = ", ".join(f"{name} (step {s})" for name, s in steps.items())
    return None, (f"no prior included: none trained on model step {model_step}"
                  + (f"; found {stale}: train the prior again (stage=prior)" if stale else ""))
