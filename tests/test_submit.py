"""sbatch scripts are rendered by a pure function and pinned by golden files.

Every cluster profile in conf/cluster/ that submits to SLURM has one golden file per stage, and
every golden file belongs to such a profile and stage: a new profile without golden files, or a
golden file left from a removed one, fails. Regenerate after an intended change, and read the
diff before committing it:

    RAVEJOBS_UPDATE_GOLDEN=1 python3 -m pytest -q tests/test_submit.py

Only the exact value `1` rewrites; a rewriting run still fails (so it can never pass by
comparing a file with itself) and says which files it wrote.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from compose import compose_spec, group_options
from omegaconf import OmegaConf

from ravejobs.plan import make_plan
from ravejobs.submit import render_sbatch

GOLDEN = Path(__file__).parent / "golden"
ROOT = "/home/me/projects/rpp-ichiro/me/ravejobs"
PROVENANCE = ("0123456789ab (clean)", "python launch.py -m dataset=autechre_old,viglienzoni")


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", ROOT)
    monkeypatch.setenv("USER", "me")
    monkeypatch.setenv("LOGNAME", "me")
    monkeypatch.setenv("SBATCH_ACCOUNT", "rpp-ichiro")  # no account is shipped (issue 12)
    monkeypatch.delenv("SLURM_ACCOUNT", raising=False)


def rendered(cluster: str, *extra: str) -> dict[str, str]:
    specs = [compose_spec(["dry_run=true", f"cluster={cluster}", f"dataset={d}", *extra])
             for d in ("autechre_old", "viglienzoni")]
    plan = make_plan(specs)
    out = {}
    for array in plan.arrays:
        dep = None if array.after is None else f"{1000 + array.after}"
        folder = f"{ROOT}/sweeps/sweep-test/slurm/{array.label}"
        out[array.label] = render_sbatch(array, specs[0].cluster, "sweep-test", folder, dep,
                                         python="python", provenance=PROVENANCE)
    return out


STAGES = ("prepare", "train", "prior", "export")


def slurm_profiles() -> list[str]:
    """Every profile under conf/cluster/ that submits to SLURM (read, not listed by hand)."""
    import compose

    return [name for name in group_options("cluster")
            if OmegaConf.load(compose.CONF / "cluster" / f"{name}.yaml").executor == "slurm"]


def updating() -> bool:
    return os.environ.get("RAVEJOBS_UPDATE_GOLDEN") == "1"


def test_every_slurm_profile_and_no_other_has_golden_files():
    profiles = slurm_profiles()
    assert "narval" in profiles and "local" not in profiles
    expected = {f"{c}-{s}.sbatch" for c in profiles for s in STAGES}
    present = {p.name for p in GOLDEN.glob("*")}
    stale = present - expected
    if updating():
        for name in stale:
            (GOLDEN / name).unlink()
    assert not stale, f"golden files of no profile/stage (stale): {sorted(stale)}"
    assert expected <= present, f"no golden file for {sorted(expected - present)}"


@pytest.mark.parametrize("cluster", slurm_profiles())
def test_sbatch_scripts_match_golden_files(cluster):
    scripts = rendered(cluster, "phase.warmup=5e6", "reason=compare warmups")
    assert sorted(scripts) == sorted(STAGES)
    wrote = []
    for label, text in scripts.items():
        path = GOLDEN / f"{cluster}-{label}.sbatch"
        if updating() and (not path.is_file() or path.read_text() != text):
            path.write_text(text)
            wrote.append(path.name)
            continue
        assert path.is_file(), f"{path.name} missing; see the module docstring"
        assert path.read_text() == text, f"{path.name} changed; see the module docstring"
    assert not updating(), f"RAVEJOBS_UPDATE_GOLDEN=1: rewrote {wrote or 'nothing'}; rerun without"


def test_narval_scripts_carry_what_admins_and_the_issue_ask_for():
    scripts = rendered("narval", "phase.warmup=5e6")
    train, prior = scripts["train"], scripts["prior"]
    assert "#SBATCH --array=0-1%2" in train
    assert "#SBATCH --gpus-per-node=a100:1" in train
    assert "#SBATCH --account=rpp-ichiro" in train
    assert "#SBATCH --dependency=aftercorr:1001" in prior  # train is array index 1 in the plan
    assert "warmup 5000000, budget 6000000 steps" in train
    assert "--gpus-per-node" not in scripts["prepare"]


def test_paths_with_spaces_quotes_and_dollars_stay_quoted(monkeypatch):
    odd = "/home/me/my \"runs\" $HOME 'x'"
    monkeypatch.setenv("RAVEJOBS_ROOT", odd)
    spec = compose_spec(["dry_run=true", "cluster=testslurm", "dataset=as"])
    array = make_plan([spec]).by_stage("train")[0]
    text = render_sbatch(array, spec.cluster, "sweep-x", f"{odd}/logs", None, python="python",
                         provenance=PROVENANCE)
    import shlex

    command = text.strip().splitlines()[-1]
    assert shlex.split(command)[-1] == f"{odd}/logs"
    assert "--output" in command and f"{odd}/logs/%A_%a_%t_log.out" in shlex.split(command)


def test_header_is_comment_lines_only_even_with_a_multiline_reason():
    spec = compose_spec(["dry_run=true", "cluster=narval", "dataset=as",
                         "reason='line one\nline two; rm -rf /'"])
    array = make_plan([spec]).by_stage("train")[0]
    text = render_sbatch(array, spec.cluster, "sweep-x", "/logs", None, python="python",
                         provenance=("abc (clean)", "python launch.py 'x\ny'"))
    body = text.split("# setup\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header = [line for line in body if not line.startswith(("module ", "source "))]
    assert header and all(line.startswith("# ") for line in header)
    assert any("reason: line one line two; rm -rf /" in line for line in header)
    assert any("code: ravejobs git abc (clean)" in line for line in header)
