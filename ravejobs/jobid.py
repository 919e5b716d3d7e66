"""The one job-id helper: which scheduler job this process runs in, as people look it up.

Bottom layer (environment only; submitit is imported lazily and only for local runs), shared by
the runner (state.json's `job_id`, the log links) and the admin header and footer.
"""

from __future__ import annotations

import os


def current_job_id() -> str:
    """`<array>_<task>` under SLURM (what sacct and squeue show), the plain SLURM job id
    outside arrays, submitit's id for a local run, '' when run by hand."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID') or '0'}"
    if os.environ.get("SLURM_JOB_ID"):
        return os.environ["SLURM_JOB_ID"]
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except (ImportError, RuntimeError):
        return ""
