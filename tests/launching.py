"""Run the launcher and the CLI as a user does, in subprocesses, isolated from the checkout.

Every launch composes `conf/` without the user's git-ignored `conf/local/default.yaml` (the
`~local` override drops that optional group; it is kept in the printed reproduce commands, so
they stay isolated too) and writes Hydra's scratch (`ravejobs-hydra/<time>`) under the test's
own folder through TMPDIR, which conf/config.yaml reads, instead of /tmp.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ISOLATED = "~local"


def env_for(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a launch under `root`: scratch beside it, no account from the shell."""
    scratch = root.parent / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200", "TMPDIR": str(scratch),
           **extra}
    env.pop("SBATCH_ACCOUNT", None)
    env.pop("SLURM_ACCOUNT", None)
    return env


def launch(root: Path, *args: str, timeout: float = 300,
           **extra: str) -> subprocess.CompletedProcess[str]:
    """`python launch.py ARGS ~local` from the checkout."""
    return subprocess.run([sys.executable, "launch.py", *args, ISOLATED], cwd=REPO,
                          env=env_for(root, **extra), capture_output=True, text=True,
                          timeout=timeout)


def ravejobs(root: Path, *args: str, timeout: float = 120,
             **extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m ravejobs.cli ARGS` from the checkout."""
    return subprocess.run([sys.executable, "-m", "ravejobs.cli", *args], cwd=REPO,
                          env=env_for(root, **extra), capture_output=True, text=True,
                          timeout=timeout)
