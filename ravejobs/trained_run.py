"""The one way a stage takes the trained model it consumes (the prior, export).

The model of a train run folder, refused in one line that says what to do when the folder is
absent, the run diverged, or it never reached the adversarial phase (a VAE-only RAVE decodes to
blurred sound and noise; upstream RAVE #106). The refusal is the calling stage's own
`StageRefused` subclass, so each stage's caller reports it as before.
"""

from __future__ import annotations

from typing import Any

from ravejobs.errors import StageRefused
from ravejobs.rundir import RunDir

WHY_NOT_VAE = {
    "prior": "a prior of a VAE-only model decodes to noise (upstream RAVE #106)",
    "export": "a VAE-only RAVE sounds blurred and its noise synthesiser is untrained",
}


def load_model(model_run: RunDir, use: str, refused: type[StageRefused],
               device: str = "cpu") -> Any:
    """The newest checkpoint of `model_run` as a `TrainedRAVE`, for stage `use`."""
    import ravejobs.model  # looked up at call time: job tests stand a light model in

    if not (model_run.path / "run.json").exists():
        raise refused(f"no trained model for this {use}: {model_run.path} does not exist; "
                      "train it first (stage=train) with the same settings")
    state = model_run.state()
    if state.status == "diverged":
        raise refused(f"model {model_run.name} diverged ({state.message}); no {use} for it. "
                      "Lower model.lr or change the seed and train again.")
    model = ravejobs.model.load_trained(model_run, device=device)
    if model.phase != "gan":
        raise refused(
            f"model {model_run.name} ({model.checkpoint_path}) stopped at step {model.step} in "
            f"phase {model.phase!r}, before the adversarial phase (phase.warmup="
            f"{model_run.spec().phase.warmup}); {WHY_NOT_VAE[use]}. Finish training the model "
            f"(stage=train), then run stage={use}.")
    return model
