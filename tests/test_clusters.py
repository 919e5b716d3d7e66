"""Cluster profiles hold the Alliance's published facts, and requests a cluster cannot give are
refused before submission (issue 15)."""

from __future__ import annotations

import pytest
from compose import compose_spec

from ravejobs.config import ConfigError
from ravejobs.naming import signature
from ravejobs.plan import make_plan
from ravejobs.submit import render_sbatch

# From the Alliance's pages (2026), as docs/alliance.md lists them with their sources:
# GPUs per node, CPUs and GB per GPU, maximum walltime in minutes, whole nodes only.
ALLIANCE = {
    "narval": ("a100", 4, 12, 124, 10080, False),
    "fir": ("h100", 4, 12, 280, 10080, False),
    "nibi": ("h100", 8, 14, 250, 10080, False),
    "rorqual": ("h100", 4, 16, 124, 10080, False),
    "trillium": ("h100", 4, 24, 188, 1440, True),
}


@pytest.fixture(autouse=True)
def _account(monkeypatch):
    monkeypatch.setenv("SBATCH_ACCOUNT", "def-lab")
    monkeypatch.setenv("RAVEJOBS_ROOT", "/home/me/projects/def-lab/me/ravejobs")


@pytest.mark.parametrize("name", sorted(ALLIANCE))
def test_profiles_match_the_alliance_pages(name):
    c = compose_spec([f"cluster={name}", "dry_run=true"]).cluster
    gpu, per_node, cpus, mem, max_time, whole = ALLIANCE[name]
    assert (c.gpu_type, c.max_gpus_per_node, c.cpus_per_task, c.mem_gb) == (gpu, per_node, cpus,
                                                                             mem)
    assert (c.max_time_min, c.whole_nodes_only) == (max_time, whole)
    assert c.max_submit <= 1000 and c.rgu_per_gpu[gpu] > 0


def _train_script(*overrides: str) -> str:
    specs = [compose_spec(["dry_run=true", *overrides])]
    train = next(a for a in make_plan(specs).arrays if a.stage == "train")
    return render_sbatch(train, specs[0].cluster, "sweep-t", "/tmp/f", python="python",
                         provenance=("rev", "cmd"))


def test_two_gpus_on_narval_ask_for_two_tasks_and_memory_per_gpu():
    text = _train_script("cluster=narval", "cluster.gpus_per_node=2")
    for line in ("--gpus-per-node=a100:2", "--ntasks-per-node=2", "--nodes=1",
                 "--cpus-per-task=12", "--mem=248G"):
        assert f"#SBATCH {line}\n" in text
    assert "2 ranks (one per GPU)" in text


def test_two_trillium_nodes_are_whole_nodes_without_a_memory_request():
    text = _train_script("cluster=trillium", "cluster.nodes=2")
    for line in ("--gpus-per-node=h100:4", "--ntasks-per-node=4", "--nodes=2",
                 "--cpus-per-task=24", "--time=1440"):
        assert f"#SBATCH {line}\n" in text
    assert "#SBATCH --mem" not in text
    assert "8 ranks" in text and "scratch, which is purged" in text


def test_trillium_writes_runs_to_scratch_by_default(monkeypatch):
    monkeypatch.delenv("RAVEJOBS_ROOT")
    monkeypatch.setenv("SCRATCH", "/scratch/me")
    spec = compose_spec(["cluster=trillium", "dry_run=true"])
    assert (spec.storage.kind, spec.storage.root) == ("scratch", "/scratch/me/ravejobs")


@pytest.mark.parametrize("overrides, words", [
    (["cluster=narval", "cluster.gpus_per_node=5"], "nodes have 4"),
    (["cluster=trillium", "cluster.gpus_per_node=2"], "exactly 1 GPU or on whole nodes"),
    (["cluster=narval", "cluster.gpu_type=a100_3g.20gb", "cluster.gpus_per_node=2"],
     "one MIG slice per job"),
    (["cluster=rorqual", "cluster.gpu_type=h100_3g.40gb", "cluster.nodes=2"],
     "one MIG slice per job"),
    (["cluster=fir", "cluster.gpu_type=v100"], "cluster.gpu_type=v100"),
    (["cluster=trillium", "storage=project"], "use storage=scratch"),
    (["cluster=local", "cluster.nodes=2"], "local executor runs on this machine only"),
])
def test_requests_a_cluster_cannot_give_are_refused(overrides, words):
    with pytest.raises(ConfigError) as err:
        compose_spec([*overrides, "dry_run=true"])
    assert words in str(err.value)


def test_one_mig_slice_is_a_valid_request():
    spec = compose_spec(["cluster=narval", "cluster.gpu_type=a100_3g.20gb", "dry_run=true"])
    assert spec.cluster.gpu_request == "a100_3g.20gb:1"


def test_world_size_enters_the_signature_only_above_one():
    one = compose_spec(["cluster=narval", "dry_run=true"])
    again = compose_spec(["cluster=rorqual", "dry_run=true"])
    two = compose_spec(["cluster=narval", "cluster.gpus_per_node=2", "dry_run=true"])
    assert signature(one) == signature(again) != signature(two)
