"""The suite is isolated from the checkout it runs in: the user's conf/local/ and /tmp."""

from __future__ import annotations

import subprocess
import sys

import pytest
from compose import compose_spec
from launching import REPO, env_for, launch

LOCAL = REPO / "conf" / "local" / "default.yaml"
LEAK = "# @package _global_\ncluster:\n  account: def-leaked-from-local\n"


@pytest.fixture
def user_local_conf():
    """A conf/local/default.yaml such as conf/local/README.md tells users to write."""
    if LOCAL.exists():
        pytest.skip(f"{LOCAL} is the user's own; not replacing it (the suite runs against it)")
    LOCAL.write_text(LEAK)
    try:
        yield LOCAL
    finally:
        LOCAL.unlink()


def test_compositions_and_launches_ignore_the_users_local_conf(user_local_conf, tmp_path,
                                                               monkeypatch):
    account = {"SBATCH_ACCOUNT": "rpp-ichiro"}
    # the file is real and would change the sweep when read ...
    plain = subprocess.run([sys.executable, "launch.py", "-m", "cluster=narval", "dataset=as",
                            "dry_run=true"], cwd=REPO, env=env_for(tmp_path / "a", **account),
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert "--account=def-leaked-from-local" in plain.stdout
    # ... but neither tests/compose.py nor tests/launching.py reads it
    monkeypatch.setenv("SBATCH_ACCOUNT", "rpp-ichiro")
    assert compose_spec(["cluster=narval", "dataset=as", "dry_run=true"]).cluster.account == (
        "rpp-ichiro")
    out = launch(tmp_path / "b", "-m", "cluster=narval", "dataset=as", "dry_run=true", **account)
    assert out.returncode == 0, out.stderr
    assert "--account=rpp-ichiro" in out.stdout and "def-leaked" not in out.stdout


def test_launches_write_hydra_scratch_in_the_tests_folder(tmp_path):
    out = launch(tmp_path / "root", "-m", "dataset=as", "dry_run=true")
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "scratch" / "ravejobs-hydra").iterdir())
