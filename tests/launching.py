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
    """The environment of a launch under `root`: scratch beside it, no account from the shell
    (pass SBATCH_ACCOUNT=... in `extra` for one)."""
    scratch = root.parent / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200", "TMPDIR": str(scratch)}
    env.pop("SBATCH_ACCOUNT", None)
    env.pop("SLURM_ACCOUNT", None)
    return {**env, **extra}


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


def check_header_commands(run_folder: Path, root: Path) -> None:
    """Run the `reproduce` and `by hand` lines of a run's job log for real, as printed; both
    must exit 0 and name the same run: the relaunched sweep lists this run's signature and the
    by-hand job prints this run's header again."""
    import json
    import re

    name, signature = run_folder.name.split(".")
    logs = sorted((run_folder / "logs").glob("*.out"))
    assert logs, f"{run_folder}: no job log"
    header = logs[0].read_text()
    found = re.search(rf"run        {name}  signature {signature}  stage (\w+)", header)
    assert found, header[:2000]
    stage = found.group(1)
    commands = {prefix: [line[len(prefix):] for line in header.splitlines()
                         if line.startswith(prefix)][0]
                for prefix in ("reproduce  ", "by hand    ")}
    for prefix, command in commands.items():
        done = subprocess.run(["bash", "-c", command], env=env_for(root), capture_output=True,
                              text=True, timeout=900)
        printed = done.stdout + done.stderr
        assert done.returncode == 0, (command, printed[-3000:])
        if prefix == "reproduce  ":
            sweep = re.search(r"sweep (sweep-[0-9a-f]{8}): manifest (.+manifest\.json)",
                              done.stdout)
            assert sweep, printed[-3000:]
            runs = json.loads(Path(sweep.group(2)).read_text())["runs"]
            assert (stage, signature) in [(r["stage"], r["signature"]) for r in runs], runs
            assert "not resubmitted" in done.stdout, printed[-3000:]
        else:
            assert f"run        {name}  signature {signature}  stage {stage}" in printed
