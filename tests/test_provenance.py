"""Provenance: versions and a dirty flag per run folder; a reproduce line a fresh clone runs."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from compose import compose_spec

from ravejobs import provenance
from ravejobs.jobs import header
from ravejobs.rundir import RunDir


def _repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "src"
    (repo / "conf" / "dataset").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "conf" / "dataset" / "as.yaml").write_text("name: as\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    commit = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    return repo, commit


def test_an_untracked_config_file_makes_the_revision_dirty(tmp_path):
    repo, commit = _repo(tmp_path)
    assert provenance.git_revision(repo) == f"{commit} (clean)"
    (repo / "notes.txt").write_text("not config\n")
    assert provenance.git_revision(repo) == f"{commit} (clean)"
    (repo / "conf" / "dataset" / "mine.yaml").write_text("name: mine\n")
    assert provenance.git_revision(repo) == f"{commit} (dirty: 1 untracked config files)"
    (repo / "conf" / "dataset" / "as.yaml").write_text("name: as2\n")
    assert provenance.git_revision(repo) == \
        f"{commit} (dirty: 1 files changed, 1 untracked config files)"


def test_versions_name_the_libraries_that_make_a_run():
    v = provenance.versions()
    for name in ("torch", "lightning", "submitit", "hydra", "python"):
        assert v.get(name), name
    assert provenance.versions_line().startswith(f"torch {v['torch']}, lightning ")


def test_each_start_records_versions_in_the_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    spec = compose_spec(["dataset=demo"])
    run = RunDir.for_spec(spec, "train")
    run.create(spec)
    header.print_header(spec, run)
    out = capsys.readouterr().out
    recorded = json.loads((run.path / "provenance.json").read_text())
    assert recorded["versions"]["torch"] in out and recorded["versions"]["submitit"] in out
    assert set(recorded["versions"]) >= {"torch", "lightning", "submitit", "hydra"}
    assert recorded["code"] == run.state().code and isinstance(recorded["dirty"], bool)


def test_reproduce_spells_out_a_dataset_a_fresh_clone_lacks(tmp_path, monkeypatch):
    """`dataset=mine` (a local config file) becomes `dataset=custom` plus every value; the line,
    through a shell and Hydra, composes the same corpus again without that file."""
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path))
    raw = tmp_path / "my audio, 'take 2'"
    spec = compose_spec(["dataset=custom", f"dataset.raw={provenance.hydra_value(str(raw))}",
                         "dataset.label=MINE",
                         "dataset.augment=true", "dry_run=true"])
    # the same corpus as if it had come from an untracked conf/dataset/mine.yaml
    from dataclasses import replace
    spec = replace(spec, overrides=("dataset=mine", "seed=3"))
    run = RunDir.for_spec(spec, "train")
    relaunch = header.reproduce_commands(spec, run)[0]
    words = shlex.split(relaunch)
    args = words[words.index("launch.py") + 1:]
    assert "dataset=mine" not in args and args[0] == "dataset=custom" and "seed=3" in args
    again = compose_spec([a for a in args if not a.startswith(("stage=", "cluster="))]
                         + ["dry_run=true"])
    assert again.dataset == spec.dataset
    # a shipped corpus stays as typed
    assert provenance.reproducible_overrides(["dataset=as", "seed=1"], spec.dataset) == \
        ["dataset=as", "seed=1"]
