"""Hostile values never reach a shell line, a nested folder or a second run (issue 12, item 1).

Validation refuses them at the edge, naming the setting; the one function that writes sbatch
text (`submit.executor_parameters` via `render_sbatch`) quotes or refuses even values that
skipped validation, so no field of the script can start a line of its own.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from compose import compose_plain, compose_spec

from ravejobs.config import ConfigError, build_runspec, build_runspecs
from ravejobs.plan import Task, make_plan
from ravejobs.submit import UnsafeValue, render_sbatch

PAYLOADS = {
    "newline": "x\ntouch MARK",
    "carriage return": "x\rtouch MARK",
    "substitution": "x$(touch MARK)",
    "backticks": "x`touch MARK`",
    "single quote": "x'; touch MARK; '",
    "double quote": 'x"; touch MARK; "',
    "semicolon": "x;touch MARK",
    "line separator": "x\u2028touch MARK",
}


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("RAVEJOBS_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("SBATCH_ACCOUNT", "def-test")


def refused(mutate) -> list[str]:
    cfg = compose_plain(["dataset=as", "cluster=narval", "dry_run=true"])
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        build_runspec(cfg)
    return err.value.problems


def _set(key: str, value):
    def mutate(cfg):
        node = cfg
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return mutate


FIELDS = ["tag", "dataset.label", "dataset.name", "model.name", "cluster.account",
          "cluster.partition", "cluster.name", "storage.root", "storage.data_root",
          "dataset.packed", "dataset.raw"]


@pytest.mark.parametrize("key", FIELDS)
@pytest.mark.parametrize("payload", [p for k, p in PAYLOADS.items()
                                     if k in ("newline", "carriage return", "line separator")])
def test_line_breaks_are_refused_in_every_field_naming_it(key, payload):
    problems = refused(_set(key, payload))
    assert any(p.startswith(key) for p in problems), problems


@pytest.mark.parametrize("key", ["tag", "dataset.label", "dataset.name", "cluster.account"])
@pytest.mark.parametrize("payload", list(PAYLOADS.values()) + ["a/b", "..", "../x", "a b/../c"])
def test_names_allow_only_the_documented_characters(key, payload):
    problems = refused(_set(key, payload))
    assert any(p.startswith(key) and "docs/config.md" in p for p in problems), problems


@pytest.mark.parametrize("value", ["AUG", "long warmup", "v2_b-3", ""])
def test_documented_tags_are_accepted(value):
    spec = compose_spec(["dataset=as", "dry_run=true", f"tag='{value}'"])
    assert spec.tag == value


@pytest.mark.parametrize("value,words", [("runs", "absolute"), ("/a/../b", ".."),
                                         ("/a\nb", "control")])
def test_storage_root_is_absolute_and_plain(value, words):
    problems = refused(_set("storage.root", value))
    assert any(p.startswith("storage.root") and words in p for p in problems), problems


def test_setup_lines_must_be_single_lines():
    problems = refused(_set("cluster.setup", ["module load x\ntouch MARK"]))
    assert any(p.startswith("cluster.setup[0]") for p in problems), problems


def test_reason_is_free_text_but_no_escape_sequences():
    assert compose_spec(["dataset=as", "dry_run=true", "reason='why $(not); `x`'"]).reason
    problems = refused(_set("reason", "colour \x1b[31m red"))
    assert any(p.startswith("reason") for p in problems), problems


def test_two_tags_over_the_same_runs_are_refused():
    points = [(compose_plain(["dataset=as", "dry_run=true", f"tag={t}"]), [f"tag={t}"])
              for t in ("a", "b")]
    with pytest.raises(ConfigError) as err:
        build_runspecs(points)
    assert any("same train run" in p and "'a'" in p and "'b'" in p for p in err.value.problems)


def test_one_cluster_and_one_storage_root_per_sweep(tmp_path):
    points = [(compose_plain(["dataset=as", "dry_run=true", f"cluster={c}"]), [c])
              for c in ("narval", "fir")]
    points.append((compose_plain(["dataset=as", "dry_run=true", "cluster=narval",
                                  f"storage.root={tmp_path}/elsewhere"]), ["other root"]))
    with pytest.raises(ConfigError) as err:
        build_runspecs(points)
    text = "\n".join(err.value.problems)
    assert "cluster.name: this sweep mixes narval, fir" in text
    assert "storage.root: this sweep mixes" in text


# ----------------------------------------------------------------------------- the sbatch text

HOSTILE_SPEC_FIELDS = {
    "tag": lambda s, v: dataclasses.replace(s, tag=v),
    "dataset.label": lambda s, v: dataclasses.replace(
        s, dataset=dataclasses.replace(s.dataset, label=v)),
    "dataset.name": lambda s, v: dataclasses.replace(
        s, dataset=dataclasses.replace(s.dataset, name=v)),
    "model.name": lambda s, v: dataclasses.replace(s, model=dataclasses.replace(s.model, name=v)),
    "kl.mode": lambda s, v: dataclasses.replace(s, kl=dataclasses.replace(s.kl, mode=v)),
    "reason": lambda s, v: dataclasses.replace(s, reason=v),
    "storage.root": lambda s, v: dataclasses.replace(
        s, storage=dataclasses.replace(s.storage, root=v)),
    "cluster.name": lambda s, v: dataclasses.replace(
        s, cluster=dataclasses.replace(s.cluster, name=v)),
    "cluster.account": lambda s, v: dataclasses.replace(
        s, cluster=dataclasses.replace(s.cluster, account=v)),
    "cluster.partition": lambda s, v: dataclasses.replace(
        s, cluster=dataclasses.replace(s.cluster, partition=v)),
    "cluster.gpu_type": lambda s, v: dataclasses.replace(
        s, cluster=dataclasses.replace(s.cluster, gpu_type=v, gpus_per_node=1)),
}
# Everything else render_sbatch puts in the text: arguments and the environment.
OTHER_FIELDS = ("sweep", "folder", "python", "code revision", "command line", "user",
                "signature", "dependency")


@functools.cache
def _base_spec(root: str):
    return compose_spec(["dataset=as", "cluster=testslurm", "dry_run=true",
                         f"storage.root={root}"])


def _render(field: str, value: str, tmp_path: Path, monkeypatch) -> tuple[str, dict]:
    spec = _base_spec("/projects/me/ravejobs")
    if field in HOSTILE_SPEC_FIELDS:
        spec = HOSTILE_SPEC_FIELDS[field](spec, value)
    args = {"sweep": "sweep-12345678", "folder": str(tmp_path / "logs"), "python": "python",
            "depends_on": "1000", "provenance": ("abc (clean)", "python launch.py -m")}
    if field == "user":
        monkeypatch.setenv("LOGNAME", value)
        monkeypatch.setenv("USER", value)
    elif field == "code revision":
        args["provenance"] = (value, "python launch.py")
    elif field == "command line":
        args["provenance"] = ("abc", value)
    elif field == "dependency":
        args["depends_on"] = value
    elif field in args:
        args[field] = value
    plan = make_plan([spec])
    array = plan.by_stage("prior")[0]  # GPU stage, a dependency, every header line
    if field == "signature":
        task = array.tasks[0]
        array = dataclasses.replace(array, tasks=(Task(task.stage, task.spec, value,
                                                       task.dirname, task.needs),))
    text = render_sbatch(array, spec.cluster, args["sweep"], args["folder"], args["depends_on"],
                         python=args["python"], provenance=args["provenance"])
    return text, {"spec": spec, **args}


def _check_lines(text: str, spec, args: dict) -> None:
    """Every line is a shebang, comment, `#SBATCH --key=value`, setup, export or the srun line."""
    srun = [line for line in text.splitlines() if not line.startswith("#") and "srun" in line]
    assert len(srun) == 1
    words = shlex.split(srun[0])
    assert words[:3] == ["srun", "--unbuffered", "--output"]
    assert words[4:] == [args["python"], "-u", "-m", "submitit.core._submit", args["folder"]]
    for line in text.splitlines():
        if line.startswith("#SBATCH"):
            words = shlex.split(line)
            assert len(words) == 2 and words[1].startswith("--"), line
        elif line.startswith("#") or line in ("", "export SUBMITIT_EXECUTOR=slurm"):
            continue
        else:
            assert line == srun[0] or line in spec.cluster.setup, f"a line of its own: {line!r}"


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
@pytest.mark.parametrize("field", [*HOSTILE_SPEC_FIELDS, *OTHER_FIELDS])
def test_no_field_of_the_sbatch_text_can_start_a_line(field, payload, tmp_path, monkeypatch):
    value = PAYLOADS[payload]
    try:
        text, args = _render(field, value, tmp_path, monkeypatch)
    except UnsafeValue as err:  # refused: fine, as long as it names the value
        assert "refused" in str(err)
        return
    _check_lines(text, args["spec"], args)
    # And run it: bash with a stub srun must not execute the payload.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / "job.sh"
    script.write_text(text)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(work)}
    done = subprocess.run(["bash", str(script)], cwd=work, env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert not (work / "MARK").exists(), f"{field} ran the payload"


def test_line_breaks_in_paths_are_refused_not_written(tmp_path, monkeypatch):
    with pytest.raises(UnsafeValue):
        _render("folder", f"{tmp_path}/x\ntouch MARK", tmp_path, monkeypatch)


def test_dry_run_python_path_is_quoted(tmp_path, monkeypatch):
    text, _ = _render("python", "/opt/my python/bin/python3", tmp_path, monkeypatch)
    assert "'/opt/my python/bin/python3' -u -m submitit.core._submit" in text
