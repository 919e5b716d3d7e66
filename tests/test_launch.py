"""The launcher as a user runs it: `python launch.py -m ...` in a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

import launching
import pytest
from compose import compose_spec

from ravejobs.naming import signature


def launch(root: Path, *args: str, account: str | None = "rpp-ichiro"
           ) -> subprocess.CompletedProcess[str]:
    """The launcher isolated from conf/local/ (tests/launching.py), with this account."""
    return launching.launch(root, *args, **({"SBATCH_ACCOUNT": account} if account else {}))


def test_the_issue_dry_run(tmp_path):
    root = tmp_path / "root"
    out = launch(root, "-m", "dataset=autechre_old,viglienzoni", "phase.warmup=5e6",
                 "cluster=narval", "dry_run=true")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for name in ("03-TR-00-AUTECHRE-OLD", "03-TR-06-VIGLIENSONI",
                 "04-TP-00-AUTECHRE-OLD", "04-TP-06-VIGLIENSONI"):
        assert name in text
    assert "warmup 5000000, budget 6000000" in text
    assert text.count("#SBATCH --array=0-1%2") == 4
    assert "#SBATCH --gpus-per-node=a100:1" in text and "#SBATCH --account=rpp-ichiro" in text
    assert "#SBATCH --dependency='aftercorr:<train array id>'" in text
    assert not root.exists(), "a dry run writes nothing"


def test_refused_sweep_names_both_settings_and_writes_nothing(tmp_path):
    root = tmp_path / "root"
    out = launch(root, "-m", "dataset=as,viglienzoni", "phase.warmup=5e6", "phase.max_steps=3e6",
                 "cluster=narval")
    assert out.returncode == 2
    assert "nothing submitted" in out.stderr
    lines = [line for line in out.stderr.splitlines() if "stop before the adversarial" in line]
    assert len(lines) == 2
    assert all("] phase.max_steps=3000000 with phase.warmup=5000000" in line for line in lines)
    assert not root.exists()


def test_fast_composition_equals_hydra_composition(tmp_path, monkeypatch):
    """Value overrides applied on a shared composition give the same runs as full composition."""
    root = tmp_path / "root"
    out = launch(root, "-m", "dataset=as,as_aug", "model.latent_size=16,32", "kl=warmup",
                 "kl.steps=5e3", "cluster=rorqual", "dry_run=true")
    assert out.returncode == 0, out.stderr
    monkeypatch.setenv("RAVEJOBS_ROOT", str(root))
    monkeypatch.setenv("SBATCH_ACCOUNT", "rpp-ichiro")
    for dataset in ("as", "as_aug"):
        for size in (16, 32):
            spec = compose_spec([f"dataset={dataset}", f"model.latent_size={size}", "kl=warmup",
                                 "kl.steps=5e3", "cluster=rorqual", "dry_run=true"])
            assert signature(spec) in out.stdout
            assert signature(spec, "prior") in out.stdout


@pytest.mark.parametrize(("bad", "code", "says"), [
    ("dataset=nope", 1, "Could not find 'dataset/nope'"),
    ("phase.warmup=abc", 2, "phase.warmup='abc': not a number of steps"),
])
def test_unknown_option_or_value_fails_cleanly(tmp_path, bad, code, says):
    out = launch(tmp_path / "root", "-m", bad, "dry_run=true")
    assert out.returncode == code, out.stderr
    assert says in out.stderr and "Traceback" not in out.stderr + out.stdout, out.stderr
    assert not (tmp_path / "root").exists()


def test_alliance_sweep_without_account_stops_before_writing(tmp_path):
    root = tmp_path / "root"
    out = launch(root, "-m", "dataset=as", "cluster=narval", "dry_run=true", account=None)
    assert out.returncode == 2
    line = next(x for x in out.stderr.splitlines() if "cluster.account" in x)
    assert "SBATCH_ACCOUNT" in line and "conf/local/" in line
    assert "rpp-ichiro" not in out.stdout + out.stderr
    assert not root.exists()
