"""On the real test cluster: each task submitted once, queued predecessors waited for, every
recorded array cancelled (issue 12, items 2 and 3).

One module fixture packs the demo corpus, then launches the same `stage=train` sweep twice at the
same moment, freezes its train tasks in the queue (suspended or held, so they neither finish nor
use the CPU), and re-types the sweep with `stage=all`. Everything is cancelled at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ravejobs import slurm
from ravejobs.cancel import cancel_sweep
from ravejobs.manifest import Manifest, ManifestRun

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
# Seeds no other test uses, so sweep ids (and job names) are this module's own.
ARGS = ("dataset=demo", "seed=71,72", "cluster=testslurm", "cluster.array_parallelism=2",
        "phase.warmup=100000", "phase.gan_steps=100000", "model.n_signal=2048", "model.batch=2",
        "prior.max_steps=2")


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "RAVEJOBS_ROOT": str(root), "COLUMNS": "200",
            "PYTHONPATH": str(REPO)}


def _launch_proc(root: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "launch.py", "-m", *overrides], cwd=REPO,
                            env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def _sid(out: str) -> str:
    found = re.search(r"(sweep-[0-9a-f]{8})", out)
    assert found, out
    return found.group(1)


def _wait(ids, until, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    records: dict = {}
    while time.monotonic() < deadline:
        records = slurm.sacct(ids)
        if until(records):
            return records
        time.sleep(1.0)
    raise AssertionError(f"not reached after {timeout:.0f} s: "
                         f"{ {k: r.state for k, r in records.items()} }")


def _jobs_named(name: str, since: str) -> list[str]:
    """Array ids sacct knows under this job name since `since` (independent of manifests)."""
    # with a state list sacct also returns jobs never eligible (held, then cancelled)
    states = "PD,R,S,CA,CD,F,TO,NF,PR,RQ,RS,OOM,DL,BF"
    out = subprocess.run(["sacct", "-n", "-X", "-P", f"--name={name}", "-S", since, "-E", "now",
                          "-s", states, "-o", "JobID"], capture_output=True, text=True,
                         timeout=30).stdout
    return sorted({line.split("_")[0] for line in out.split() if line.strip()})


def _freeze(job_ids: list[str]) -> None:
    """Keep queued tasks in the queue without running: suspend running ones, hold pending."""
    def frozen(records):
        states = {i: records[i].state.split()[0] for i in job_ids if i in records}
        for i, state in states.items():
            if state == "RUNNING":
                subprocess.run(["scontrol", "suspend", i], capture_output=True, timeout=30)
            elif state == "PENDING":
                subprocess.run(["scontrol", "hold", i], capture_output=True, timeout=30)
        held = subprocess.run(["squeue", "-h", "-o", "%i %T %r"], capture_output=True,
                              text=True, timeout=30).stdout
        return len(states) == len(job_ids) and all(
            any(line.startswith(f"{i} ") and ("SUSPENDED" in line or "Held" in line)
                for line in held.splitlines()) for i in job_ids)
    _wait(job_ids, frozen, 90)


def _all_final(records: dict, arrays: list[str]) -> bool:
    mine = {k: r for k, r in records.items() if k.split("_")[0] in arrays}
    seen = {k.split("_")[0] for k in mine}
    return seen == set(arrays) and all(r.final for r in mine.values())


@pytest.fixture(scope="module")
def claims(slurm_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("claims") / "project $space"
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    state: dict = {"root": root, "since": since, "sweeps": []}
    try:
        out = _finish(_launch_proc(root, "dataset=demo", "stage=prepare", "cluster=testslurm"))
        prep = Manifest.load(root / "sweeps" / _sid(out))
        ids = [r.job_id for r in prep.runs]
        records = _wait(ids, lambda r: all(i in r and r[i].final for i in ids), 240)
        assert {records[i].state for i in ids} == {"COMPLETED"}, records

        # Two launches of one sweep at the same moment.
        procs = [_launch_proc(root, "stage=train", *ARGS) for _ in range(2)]
        state["outs"] = outs = [_finish(p) for p in procs]
        sid = _sid(outs[0])
        state["sweeps"].append(sid)
        state["train_sweep"] = sid
        state["train_manifest"] = train = Manifest.load(root / "sweeps" / sid)
        state["train_ids"] = [r.job_id for r in train.runs]
        _freeze(state["train_ids"])

        # Re-typed with stage=all while the train tasks are in the queue.
        out = _finish(_launch_proc(root, "stage=all", *ARGS))
        state["all_out"] = out
        state["all_sweep"] = all_sid = _sid(out)
        state["sweeps"].append(all_sid)
        state["all_manifest"] = Manifest.load(root / "sweeps" / all_sid)
        prior_array = next(s["job_id"] for s in state["all_manifest"].submissions
                           if s["array"] == "prior")
        state["prior_job"] = subprocess.run(
            ["scontrol", "show", "job", prior_array], capture_output=True, text=True,
            timeout=30).stdout
        state["cancel"] = subprocess.run(
            [sys.executable, "-m", "ravejobs.cli", "cancel", all_sid], cwd=REPO,
            env=_env(root), capture_output=True, text=True, timeout=120)
        every = [str(s["job_id"]) for sweep in state["sweeps"]
                 for s in Manifest.load(root / "sweeps" / sweep).submissions]
        state["after_cancel"] = _wait(every, lambda r: _all_final(r, every), 90)
        # by now accounting knows every array submitted under the train sweep's job name
        state["train_arrays"] = _jobs_named(f"rj-train-{sid.removeprefix('sweep-')}", since)
        yield state
    finally:  # leave no job behind
        for sweep in state["sweeps"]:
            manifest = Manifest.load(root / "sweeps" / sweep)
            ids = [str(s["job_id"]) for s in manifest.submissions]
            live = [k for k, r in slurm.sacct(ids).items() if not r.final]
            if live:
                slurm.cancel(live)
        for array in state.get("train_arrays", []):
            subprocess.run(["scancel", array], capture_output=True, timeout=30)


def test_two_launches_at_once_submit_each_task_once(claims):
    train = claims["train_manifest"]
    arrays = [s for s in train.submissions if s["array"].startswith("train")]
    assert len(arrays) == 1 and arrays[0]["tasks"] == 2, train.submissions
    # sacct, not the manifest: no second array was submitted under the sweep's job name
    assert claims["train_arrays"] == [arrays[0]["job_id"]]
    submitted, waited = sorted(claims["outs"], key=lambda o: "held by an earlier launch" in o)
    assert "held by an earlier launch" not in submitted
    for run in train.runs:
        assert f"{run.name}.{run.signature} (job {run.job_id}, still in the queue)" in waited


def test_retyped_stage_all_waits_for_the_queued_train(claims):
    manifest, train_ids = claims["all_manifest"], claims["train_ids"]
    arrays = {s["array"]: s for s in manifest.submissions}
    assert set(arrays) == {"prior", "export"}, manifest.submissions  # train is queued already
    train_array = train_ids[0].split("_")[0]
    assert arrays["prior"]["dependency"] == "aftercorr"
    assert arrays["prior"]["after"] == train_array
    assert f"Dependency=aftercorr:{train_array}" in claims["prior_job"], claims["prior_job"]
    assert arrays["export"]["after"] == arrays["prior"]["job_id"]
    # the re-typed sweep's manifest names the queued train jobs, so status and cancel see them
    assert sorted(r.job_id for r in manifest.runs if r.stage == "train") == sorted(train_ids)


def test_cancel_stops_every_array_of_the_sweep(claims):
    assert claims["cancel"].returncode == 0, claims["cancel"].stderr
    records = claims["after_cancel"]
    train = [records[i] for i in claims["train_ids"]]
    assert {r.state.split()[0] for r in train} == {"CANCELLED"}
    assert all(r.final for r in records.values())


def test_cancel_reaches_arrays_no_run_names_any_more(slurm_cluster, sbatch, tmp_path):
    """An array recorded by an earlier launch is cancelled even if runs now name another."""
    root = tmp_path / "root"
    old = sbatch("--hold", "--array=0-1", "-J", "rj-test-old", "-o", "/dev/null",
                 "--wrap", "sleep 300")
    new = sbatch("--hold", "--array=0-1", "-J", "rj-test-new", "-o", "/dev/null",
                 "--wrap", "sleep 300")
    try:
        manifest = Manifest(
            sweep_id="sweep-0ld0ld00", root=str(root), cluster="testslurm", executor="slurm",
            runs=[ManifestRun(f"03-TR-99-DEMO-{i}", f"sig{i}", "train",
                              str(root / "runs" / f"r{i}"), f"{new}_{i}") for i in (0, 1)],
            submissions=[{"array": "train", "job_id": old, "tasks": 2},
                         {"array": "train", "job_id": new, "tasks": 2}])
        manifest.save()
        cancelled = cancel_sweep(str(manifest.path))
        assert sorted(cancelled) == sorted([old, new])
        records = _wait([old, new], lambda r: _all_final(r, [old, new]), 60)
        assert {r.state.split()[0] for r in records.values()} == {"CANCELLED"}
    finally:
        subprocess.run(["scancel", old, new], capture_output=True, timeout=30)
