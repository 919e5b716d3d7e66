"""End to end on the real test cluster: `python launch.py -m ... cluster=testslurm`.

One module-scoped fixture drives three sweeps at once (the machine is small, so waits overlap):

- main: demo corpus, seeds 0 and 1, every stage. Train run 1's spec.json is broken right after
  submission, so its model fails and `aftercorr` must cancel its prior (and export) only.
- requeue: one train run, USR2 sent by `scancel --signal=USR2` (what SLURM sends before the
  time limit) once it has trained a few steps; it must end at exactly the budget, under one job
  id, with no step trained twice.
- split: three runs with `cluster.max_array_size=2`: each stage becomes two arrays whose
  dependencies pair the right tasks; `ravejobs cancel --dry-run`, `--stage prior`, then all.

The fixture does everything that changes a sweep (breaking a spec, retyping, cancelling) and
records what it saw, so the tests only read and may run in any order.

Everything lives under a root whose path holds a space and a `$`.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
from pathlib import Path

import pytest
from launching import launch, ravejobs

from ravejobs import slurm
from ravejobs.manifest import Manifest
from ravejobs.metrics import FILE, read_metrics

pytestmark = pytest.mark.slurm

# Small and fast: 2048-sample windows, batch 2; the prior and export stay tiny too.
FAST = ("model.n_signal=2048", "model.batch=2", "prior.max_steps=2", "train.log_every=1")


def _launch(root: Path, *overrides: str, timeout: float = 120) -> tuple[str, str]:
    """Run the launcher like a user; returns (sweep id, output)."""
    done = launch(root, "-m", *overrides, timeout=timeout)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    found = re.search(r"(sweep-[0-9a-f]{8})", out)
    assert found, out
    return found.group(1), out


def _ravejobs(root: Path, *args: str) -> subprocess.CompletedProcess:
    return ravejobs(root, *args, timeout=60)


def _manifest(root: Path, sid: str) -> Manifest:
    return Manifest.load(root / "sweeps" / sid)


def _runs(manifest: Manifest, stage: str, seeds: dict[str, int]) -> dict[int, object]:
    """Runs of a stage by seed; `seeds` (run folder -> seed) is filled on first sight, before
    any spec.json is broken."""
    out = {}
    for run in manifest.runs:
        if run.path not in seeds:
            seeds[run.path] = json.loads((Path(run.path) / "spec.json").read_text())["seed"]
        if run.stage == stage:
            out[seeds[run.path]] = run
    return out


def _ids(manifest: Manifest) -> list[str]:
    return [r.job_id for r in manifest.runs if r.job_id]


def _wait(manifest_ids, timeout: float, until=None) -> dict:
    """Poll sacct until every job is final (or `until(records)` holds)."""
    deadline = time.monotonic() + timeout
    records: dict = {}
    while time.monotonic() < deadline:
        records = slurm.sacct(manifest_ids)
        done = until(records) if until else (
            all(i in records and records[i].final for i in manifest_ids))
        if done:
            return records
        time.sleep(2)
    raise AssertionError(f"not done after {timeout:.0f} s: "
                         f"{ {k: (r.state, r.restarts) for k, r in records.items()} }")


def _split_id(job_id: str) -> tuple[str, str]:
    """`123_4` -> ('123', '4'); a one-task array's plain `123` -> ('123', '0')."""
    array, _, task = job_id.partition("_")
    return array, task or "0"


def _script(root: Path, sid: str, label: str, manifest: Manifest) -> str:
    """The sbatch script of the array `label` as first submitted in `manifest` (a later
    resubmission of the same stage writes its own script beside it)."""
    (job_id,) = [s["job_id"] for s in manifest.submissions if s["array"] == label][:1]
    script = root / "sweeps" / sid / "slurm" / label / f"{job_id}_submission.sh"
    assert script.is_file(), f"no sbatch script for {label} ({job_id})"
    return script.read_text()


def _step_seconds(metrics: Path) -> float:
    """Median wall seconds between consecutive logged steps (train.log_every=1)."""
    times: dict[int, float] = {}
    for rows in read_metrics(metrics)[0].values():
        for step, (when, _) in rows.items():
            times.setdefault(step, when)
    steps = sorted(times)
    gaps = sorted(times[b] - times[a] for a, b in zip(steps, steps[1:], strict=False) if b == a + 1)
    assert gaps, f"{metrics}: not enough steps logged to time a step"
    return gaps[len(gaps) // 2]


def _wait_for_step(metrics: Path, step: int, job_id: str, timeout: float) -> None:
    """Until the run has logged `step` (a state of the run, not a guess at its speed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(max(rows) >= step for rows in read_metrics(metrics)[0].values()):
            return
        record = slurm.sacct([job_id]).get(job_id)
        assert record is None or not record.final, f"{job_id} ended before step {step}: {record}"
        time.sleep(0.2)
    raise AssertionError(f"{metrics}: step {step} not logged in {timeout:.0f} s")


MAIN = ("dataset=demo", "seed=0,1", "cluster=testslurm", "cluster.array_parallelism=2",
        "phase.warmup=3", "phase.gan_steps=3", *FAST)


@pytest.fixture(scope="module")
def e2e(slurm_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "project space $USER"
    state: dict = {"root": root, "sweeps": [], "seeds": {}}
    try:
        yield from _drive(root, state)
    finally:  # leave no job behind, whatever failed
        for sid in state["sweeps"]:
            ids = _ids(_manifest(root, sid))
            live = [i for i, r in slurm.sacct(ids).items() if not r.final]
            if live:
                slurm.cancel(live)


def _drive(root: Path, state: dict):
    seeds = state["seeds"]
    sid, out = _launch(root, *MAIN)
    state["sweeps"].append(sid)
    state["main"], state["main_out"] = sid, out
    manifest = _manifest(root, sid)
    state["first_manifest"] = manifest
    # Hold the train array (it waits for the prepare job, seconds of work), so that it is still
    # queued while model 1's spec is broken and the sweep is typed again.
    (train_array,) = [s["job_id"] for s in manifest.submissions if s["array"] == "train"]
    subprocess.run(["scontrol", "hold", train_array], check=True, capture_output=True,
                   timeout=30)
    held = slurm.sacct([r.job_id for r in manifest.runs if r.stage == "train"])
    assert {r.state for r in held.values()} == {"PENDING"}, held
    _runs(manifest, "train", seeds)  # remember every run's seed
    broken = Path(_runs(manifest, "train", seeds)[1].path) / "spec.json"
    state["broken_spec"] = broken.read_text()
    broken.write_text("{ not json")

    # Typed again while queued: nothing new is submitted.
    sid_again, out_again = _launch(root, *MAIN)
    state["retype_out"] = out_again
    state["retype_manifest"] = _manifest(root, sid_again)
    assert sid_again == sid
    subprocess.run(["scontrol", "release", train_array], check=True, capture_output=True,
                   timeout=30)

    # The split sweep, once the corpus is packed: submitted, then cancelled through the CLI:
    # a dry run (nothing cancelled), the prior stage only, then the rest.
    prepare = [r for r in manifest.runs if r.stage == "prepare"]
    _wait([r.job_id for r in prepare], 180)
    split_sid, split_out = _launch(root, "dataset=demo", "seed=10,11,12", "cluster=testslurm",
                                   "cluster.max_array_size=2", "phase.warmup=1",
                                   "phase.gan_steps=1", *FAST)
    state["sweeps"].append(split_sid)
    state["split"] = split_sid
    split = state["split_manifest"] = _manifest(root, split_sid)
    by_stage = {stage: [r.job_id for r in split.runs if r.stage == stage]
                for stage in ("train", "prior", "export")}
    state["cancel_dry"] = _ravejobs(root, "cancel", split_sid, "--dry-run")
    state["after_dry"] = slurm.sacct(_ids(split))
    state["cancel_prior"] = _ravejobs(root, "cancel", split_sid, "--stage", "prior")
    state["after_prior"] = _wait(by_stage["prior"], 60)
    state["train_after_prior"] = slurm.sacct(by_stage["train"])
    state["cancel"] = _ravejobs(root, "cancel", split_sid)
    if state["cancel"].returncode != 0:  # reported by the split test; clean up meanwhile
        slurm.cancel(_ids(split))
    state["split_records"] = _wait(_ids(split), 60)

    # Time one step on the main sweep's healthy model, then size the requeue run from it:
    # about 40 s of steps, so that the USR2 sent after step 2 lands mid-run.
    train0 = _runs(manifest, "train", seeds)[0]
    _wait([train0.job_id], 300)
    step_s = _step_seconds(Path(train0.path) / FILE)
    budget = int(min(3000, max(20, math.ceil(40.0 / step_s))))
    state["budget"] = budget
    rq_sid, _ = _launch(root, "dataset=demo", "seed=5", "stage=train", "cluster=testslurm",
                        "cluster.time_min=30", f"phase.warmup={budget // 2}",
                        f"phase.gan_steps={budget - budget // 2}", *FAST)
    state["sweeps"].append(rq_sid)
    state["requeue"] = rq_sid
    (rq_run,) = [r for r in _manifest(root, rq_sid).runs if r.stage == "train"]
    _wait_for_step(Path(rq_run.path) / FILE, 2, rq_run.job_id, 300)
    # What SLURM sends before the time limit (--signal=USR2@...): USR2 to the job's steps.
    subprocess.run(["scancel", "--signal=USR2", rq_run.job_id], check=True, timeout=30)

    state["main_records"] = _wait(_ids(manifest), 300)
    state["main_manifest"] = _manifest(root, sid)
    state["main_status"] = _ravejobs(root, "status", sid)

    # Typed again after the failure, with the spec fixed: only the failed chain is resubmitted;
    # then `ravejobs cancel` stops it.
    train = _runs(manifest, "train", seeds)
    Path(train[1].path, "spec.json").write_text(state["broken_spec"])  # the fix
    before = {r.signature: r.job_id for r in state["main_manifest"].runs}
    _, state["fixed_out"] = _launch(root, *MAIN)
    after = state["fixed_manifest"] = _manifest(root, sid)
    resubmitted = [r for r in after.runs if r.job_id != before[r.signature]]
    state["resubmitted"] = resubmitted
    state["fixed_cancel"] = _ravejobs(root, "cancel", sid)
    if state["fixed_cancel"].returncode != 0:
        slurm.cancel([r.job_id for r in resubmitted])
    state["resubmitted_records"] = _wait([r.job_id for r in resubmitted], 60)
    state["fixed_state"] = json.loads(Path(train[1].path, "state.json").read_text())

    state["requeue_records"] = _wait(_ids(_manifest(root, rq_sid)), 420)
    yield state


def test_one_array_per_stage_logs_by_job_and_task(e2e):
    root, sid = e2e["root"], e2e["main"]
    manifest = e2e["main_manifest"]
    labels = [s["array"] for s in manifest.submissions]
    assert labels == ["prepare", "train", "prior", "export"]
    # one task: a plain job
    assert "#SBATCH --array" not in _script(root, sid, "prepare", manifest)
    for label in ("train", "prior", "export"):
        assert "#SBATCH --array=0-1%2" in _script(root, sid, label, manifest)
    records = e2e["main_records"]
    train0 = _runs(manifest, "train", e2e["seeds"])[0]
    assert records[train0.job_id].state == "COMPLETED"
    array, task = _split_id(train0.job_id)
    log = Path(train0.path) / "logs" / f"{train0.job_id}.out"
    assert train0.job_id == f"{array}_{task}"
    text = log.read_text()
    assert f"run        {train0.name}  signature {train0.signature}  stage train" in text
    assert f"job        {train0.job_id} " in text
    assert "exit       finished" in text and "steps      6 of 6" in text
    state = json.loads((Path(train0.path) / "state.json").read_text())
    assert (state["status"], state["step"]) == ("finished", 6)


def test_every_stage_of_the_healthy_point_leaves_its_output(e2e):
    manifest, seeds = e2e["main_manifest"], e2e["seeds"]
    (prepare,) = [r for r in manifest.runs if r.stage == "prepare"]
    assert json.loads(Path(prepare.path, "state.json").read_text())["status"] == "finished"
    prior = json.loads(Path(_runs(manifest, "prior", seeds)[0].path, "state.json").read_text())
    assert (prior["status"], prior["step"]) == ("finished", 2)
    assert Path(_runs(manifest, "prior", seeds)[0].path, "prior.pt").is_file()
    export = Path(_runs(manifest, "export", seeds)[0].path)
    assert json.loads((export / "state.json").read_text())["status"] == "finished"
    summary = json.loads((export / "export" / "summary.json").read_text())
    assert Path(summary["file"]).is_file() and summary["prior"]


def test_prior_waits_aftercorr_and_failed_model_blocks_only_its_prior(e2e):
    root, sid = e2e["root"], e2e["main"]
    manifest = e2e["main_manifest"]
    subs = {s["array"]: s for s in manifest.submissions}
    prior_script = _script(root, sid, "prior", manifest)
    assert f"--dependency=aftercorr:{subs['train']['job_id']}" in prior_script
    assert f"--dependency=afterok:{subs['prepare']['job_id']}" in _script(root, sid, "train",
                                                                          manifest)
    records = e2e["main_records"]
    train, prior = (_runs(manifest, s, e2e["seeds"]) for s in ("train", "prior"))
    assert records[train[1].job_id].state == "FAILED"
    assert records[prior[1].job_id].state == "CANCELLED"
    assert records[train[0].job_id].state == "COMPLETED"
    assert records[prior[0].job_id].state == "COMPLETED"
    export = _runs(manifest, "export", e2e["seeds"])
    assert records[export[1].job_id].state == "CANCELLED"
    assert records[export[0].job_id].state == "COMPLETED"


def test_retyped_sweep_while_queued_submits_nothing(e2e):
    first, again = e2e["first_manifest"], e2e["retype_manifest"]
    assert "not resubmitted" in e2e["retype_out"]
    assert again.submissions == first.submissions
    assert {r.signature: r.job_id for r in again.runs} == {
        r.signature: r.job_id for r in first.runs}
    assert all(r.job_id for r in first.runs)


def test_retyped_after_failure_resubmits_only_the_failed_chain_then_cancel(e2e):
    resubmitted, after = e2e["resubmitted"], e2e["fixed_manifest"]
    assert {r.stage for r in resubmitted} == {"train", "prior", "export"}
    assert {e2e["seeds"][r.path] for r in resubmitted} == {1} and len(resubmitted) == 3
    assert all(s["tasks"] == 1 for s in after.submissions[4:])
    # ravejobs cancel stops them; their run folders say so.
    assert e2e["fixed_cancel"].returncode == 0, e2e["fixed_cancel"].stderr
    records = e2e["resubmitted_records"]
    assert {records[r.job_id].state for r in resubmitted} == {"CANCELLED"}
    state = e2e["fixed_state"]
    assert state["status"] == "failed" and "cancelled" in state["message"]


def test_split_arrays_pair_the_right_tasks(e2e):
    root, sid = e2e["root"], e2e["split"]
    manifest = e2e["split_manifest"]
    arrays = [s["array"] for s in manifest.submissions]
    train_subs = [s for s in manifest.submissions if s["array"].startswith("train")]
    prior_subs = [s for s in manifest.submissions if s["array"].startswith("prior")]
    assert [s["tasks"] for s in train_subs] == [2, 1], arrays
    assert [s["tasks"] for s in prior_subs] == [2, 1], arrays
    # Prior run of seed s sits at the same index of the array that waits on s's train array.
    train, prior = (_runs(manifest, s, e2e["seeds"]) for s in ("train", "prior"))
    for seed in (10, 11, 12):
        t_array, t_task = _split_id(train[seed].job_id)
        p_array, p_task = _split_id(prior[seed].job_id)
        assert p_task == t_task
        sub = next(s for s in prior_subs if s["array"].startswith("prior")
                   and s["job_id"] == p_array)
        assert sub["after"] == t_array and sub["dependency"] == "aftercorr"
        script = next((root / "sweeps" / sid / "slurm").glob(f"*/{p_array}_submission.sh"))
        assert f"--dependency=aftercorr:{t_array}" in script.read_text()


def test_cancel_dry_run_then_one_stage_then_the_rest(e2e):
    manifest = e2e["split_manifest"]
    tasks = {stage: [r.job_id for r in manifest.runs if r.stage == stage]
             for stage in ("train", "prior", "export")}
    arrays = {stage: {s["job_id"] for s in manifest.submissions
                      if s["array"].split(".")[0] == stage} for stage in tasks}
    dry = e2e["cancel_dry"]
    assert dry.returncode == 0, dry.stderr
    assert "would cancel" in dry.stdout and arrays["prior"] <= set(dry.stdout.split())
    assert "CANCELLED" not in {r.state for r in e2e["after_dry"].values()}   # nothing cancelled
    prior = e2e["cancel_prior"]
    assert prior.returncode == 0, prior.stderr
    said = set(prior.stdout.split())
    assert arrays["prior"] <= said and not said & (arrays["train"] | arrays["export"]), said
    assert {e2e["after_prior"][i].state for i in tasks["prior"]} == {"CANCELLED"}
    assert "CANCELLED" not in {r.state for r in e2e["train_after_prior"].values()}
    assert e2e["cancel"].returncode == 0, e2e["cancel"].stderr
    states = {r.state for r in e2e["split_records"].values()}
    assert states <= {"CANCELLED", "COMPLETED"} and "CANCELLED" in states
    for run in manifest.runs:
        if run.stage == "prior":
            state = json.loads(Path(run.path, "state.json").read_text())
            assert state["status"] == "failed" and "cancelled" in state["message"]


def test_usr2_requeue_resumes_exactly(e2e):
    root, sid, budget = e2e["root"], e2e["requeue"], e2e["budget"]
    manifest = _manifest(root, sid)
    (run,) = [r for r in manifest.runs if r.stage == "train"]
    record = e2e["requeue_records"][run.job_id]
    assert record.state == "COMPLETED"
    assert record.restarts == 1, record
    state = json.loads(Path(run.path, "state.json").read_text())
    assert (state["status"], state["step"], state["job_id"]) == ("finished", budget, run.job_id)
    # Every step logged once, 1..budget in order: none trained twice, none skipped.
    steps = sorted(read_metrics(Path(run.path, FILE))[0]["phase"])
    assert steps == list(range(1, budget + 1))
    log = (Path(run.path) / "logs" / f"{run.job_id}.out").read_text()
    assert log.count("exit       requeued at time limit") == 1
    assert log.count("exit       finished") == 1
    assert f"steps      {budget} of {budget}" in log
    assert "restart 1" in log
    resumed = re.findall(r"resuming from .* at step (\d+)", log)
    assert len(resumed) == 1 and 2 <= int(resumed[0]) < budget, resumed


def test_status_reads_sacct_requeues_and_blocked_priors(e2e):
    root = e2e["root"]
    done = _ravejobs(root, "status", e2e["requeue"])
    assert done.returncode == 0, done.stderr
    (run,) = [r for r in _manifest(root, e2e["requeue"]).runs if r.stage == "train"]
    restarts = e2e["requeue_records"][run.job_id].restarts
    row = next(line for line in done.stdout.splitlines() if run.signature in line)
    budget = f"{e2e['budget']:,}"  # status prints thousands separators
    assert f"COMPLETED ({restarts} requeue" in row and f"{budget} / {budget}" in row
    done = e2e["main_status"]
    assert done.returncode == 0, done.stderr
    prior = _runs(e2e["main_manifest"], "prior", e2e["seeds"])
    rows = {seed: next(line for line in done.stdout.splitlines() if run.signature in line)
            for seed, run in prior.items()}
    assert "COMPLETED" in rows[0] and "blocked" in rows[1]
