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
import time
from typing import Any

import submitit

from ravejobs.atomic import atomic_write_json
from ravejobs.jobs.runner import by_hand
from ravejobs.rundir import RunDir


class ExportJob(submitit.helpers.Checkpointable):
    def __init__(self, run_dir: str):
        self.run_dir = str(run_dir)

    def __call__(self) -> dict[str, Any]:
        from ravejobs.export.run import export_filename, export_run
        from ravejobs.jobs.header import print_footer, print_header

        run = RunDir.open(self.run_dir)
        spec = run.spec()
        print_header(spec, run)
        run.update_state(status="running", phase="export", started=time.time())
        try:
            model_run = RunDir.for_spec(spec, "train")
            prior_run = RunDir.for_spec(spec, "prior") if spec.prior.enabled else None
            result = export_run(model_run, run.export / export_filename(model_run),
                                streaming=spec.model.streaming, prior_run=prior_run)
            summary = result.to_dict()
            atomic_write_json(run.export / "summary.json", summary)
        except Exception as err:
            print_footer(run, f"failed: {type(err).__name__}: {err}", 0)
            raise
        mode = (f"streaming, latency {result.latency} samples" if result.streaming
                else "each buffer on its own")
        print(f"[export] wrote {result.path} ({mode}, {result.sr} Hz: set the host to this "
              f"rate, nn~ does not read it; methods {', '.join(result.methods)})", flush=True)
        run.update_state(status="finished", step=result.model_step, message="",
                         checkpoint=result.model_checkpoint, extra=summary)
        print_footer(run, "finished", result.model_step)
        return summary

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Nothing to save: an export interrupted at the limit simply runs again."""
        return submitit.helpers.DelayedSubmission(ExportJob(self.run_dir))


def main(argv: list[str] | None = None) -> int:
    return by_hand("export", argv)


if __name__ == "__main__":
    sys.exit(main())
