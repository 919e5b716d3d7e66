"""The stage table is the one source of stage facts: consistent, and read by every part."""

from __future__ import annotations

import importlib

import pytest
from compose import compose_spec

from ravejobs import stages


def test_rows_are_consistent_and_their_jobs_exist():
    names = [s.name for s in stages.TABLE]
    assert len(set(names)) == len(names) and len({s.code for s in stages.TABLE}) == len(names)
    for row in stages.TABLE:
        assert row.predecessor is None or names.index(row.predecessor) < names.index(row.name)
        module, cls = row.job.split(":")
        assert callable(getattr(importlib.import_module(module), cls))


def test_every_part_reads_the_table(monkeypatch):
    """Change a row and plan, naming, submit, the runner and the rundir follow."""
    from dataclasses import replace

    from ravejobs import naming, plan, submit
    from ravejobs.jobs import runner

    assert plan.PREDECESSOR == {s.name: s.predecessor for s in stages.TABLE}
    assert naming.STAGE_CODES["prior"] == (4, "TP") and stages.GPU_STAGES == ("train", "prior")
    assert runner.JOBS["export"] == stages.stage("export").job
    spec = compose_spec(["dataset=demo", "cluster=narval", "cluster.account=def-x"])
    assert submit.stage_resources("export", spec.cluster) == (2, 8.0, 30)
    monkeypatch.setitem(stages.STAGES, "export",
                        replace(stages.stage("export"), max_mem_gb=4.0, max_minutes=10))
    assert submit.stage_resources("export", spec.cluster) == (2, 4.0, 10)
    assert stages.predecessor("export", spec) == "prior"
    assert stages.predecessor("export", replace(spec, prior=replace(spec.prior, enabled=False))
                              ) == "train"
    with pytest.raises(ValueError, match="not one of prepare, train, prior, export"):
        stages.stage("nope")
