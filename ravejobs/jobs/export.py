"""The export stage: script the sweep point's trained model (and prior) for nn~.

Runs in its own run folder (`05-EX-…`, made by the launcher). It finds the model with
`RunDir.for_spec(spec, "train")` and, when `prior.enabled`, the prior with
`RunDir.for_spec(spec, "prior")`; writes `export/<model>-<sig>.ts` atomically and
`export/summary.json`. A model still in the VAE phase is refused. Seconds of CPU, no requeue
needed; running it again overwrites the file with an export of the newest checkpoint.

    python -m ravejobs.jobs.export RUN_DIR
"""

from __future__ import annotations

import sys
from typing import Any

from ravejobs.atomic import atomic_write_json
from ravejobs.rundir import RunDir


class ExportJob:
    """The export stage for the runner: nothing to save; interrupted, it simply runs again."""

    restored = False

    def __init__(self, run: RunDir):
        self.run_dir = run

    def save(self, reason: str) -> tuple[str, int]:
        raise RuntimeError("export keeps no checkpoint")

    def run(self, signals: Any = None) -> dict[str, Any]:
        from ravejobs.export.run import export_filename, export_run

        run = self.run_dir
        spec = run.spec()
        run.update_state(phase="export")
        model_run = RunDir.for_spec(spec, "train")
        prior_run = None
        if spec.prior.enabled:   # the newest prior trained on the model's step, said
            from ravejobs.export.priors import choose_prior

            prior_run, note = choose_prior(model_run, model_run.state().step)
            print(f"[export] {note}", flush=True)
        result = export_run(model_run, run.export / export_filename(model_run),
                            streaming=spec.model.streaming, prior_run=prior_run)
        summary = result.to_dict()
        atomic_write_json(run.export / "summary.json", summary)
        mode = (f"streaming, latency {result.latency} samples" if result.streaming
                else "each buffer on its own")
        print(f"[export] wrote {result.path} ({mode}, {result.sr} Hz: set the host to this "
              f"rate, nn~ does not read it; methods {', '.join(result.methods)})", flush=True)
        run.update_state(step=result.model_step, message="",
                         checkpoint=result.model_checkpoint, extra=summary)
        return summary  # finished; its step is the model's, in state.json


def main(argv: list[str] | None = None) -> int:
    from ravejobs.jobs.runner import by_hand

    return by_hand("export", argv)


if __name__ == "__main__":
    sys.exit(main())
