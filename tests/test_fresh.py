"""The two commands of a fresh machine (`make demo`, `make test`): their set-up makes a virtual
environment once and skips it when current, and a user who is not root is told why the SLURM
tests are skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_make_targets_do_their_own_setup():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    plan = subprocess.run(["make", "-n", "demo", "test"], cwd=REPO, capture_output=True,
                          text=True, check=True, env=env).stdout  # as typed, even under make
    lines = plan.splitlines()
    assert lines[0].endswith("bash scripts/setup.sh") and ".venv/bin/python launch.py" in plan
    assert "bash scripts/testcluster.sh" in plan and ".venv/bin/python -m pytest" in plan


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run the script as another user")
def test_not_root_is_told_why_slurm_tests_are_skipped():
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="ravejobs-notroot-"))  # readable by user nobody
    home.chmod(0o755)
    bin_dir = home / "bin"           # a PATH without SLURM's commands: no cluster to find
    bin_dir.mkdir()
    for tool in ("bash", "id", "dirname", "echo"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    done = subprocess.run(
        [shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups",
         str(bin_dir / "bash"), str(REPO / "scripts" / "testcluster.sh")],
        capture_output=True, text=True, timeout=60, env={"PATH": str(bin_dir)}, cwd=home)
    shutil.rmtree(home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("NOTE: the SLURM tests will be skipped: the test cluster is "
                                  "not running and starting it"), done.stdout
    assert "needs root" in done.stdout and "sudo bash slurm/testcluster/start.sh" in done.stdout


@pytest.mark.slow
def test_setup_makes_the_environment_once(tmp_path):
    venv = tmp_path / "venv"
    env = {**os.environ, "RAVEJOBS_VENV": str(venv)}
    env.pop("PYTHONPATH", None)
    first = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "setup: torch 2.13.0" in first.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import ravejobs, torch; print(ravejobs.__file__, torch.__version__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert where.split() == [str(REPO / "ravejobs" / "__init__.py"), "2.13.0+cpu"]
    start = time.monotonic()
    again = subprocess.run(["bash", "scripts/setup.sh"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and again.stdout == "" and time.monotonic() - start < 5
