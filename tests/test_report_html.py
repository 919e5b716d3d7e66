"""The report page, table formats and the `report` command, on real run folders; the page is
opened in headless Chromium to check that plots and table render (screenshot kept in the test's
own pytest folder)."""

from __future__ import annotations

import base64
import csv
import io
import re

import numpy as np
import pytest
from test_report_helpers import (
    CHROMIUM,
    NO_CHROMIUM,
    open_in_chromium,
    prior_run,
    spec_at,
    train_run,
)

from ravejobs.cli import main
from ravejobs.manifest import Manifest, ManifestRun
from ravejobs.metrics.cache import MetricsCache
from ravejobs.report.cli import build_report
from ravejobs.report.collect import REPORT_KEYS
from ravejobs.report.table import COLUMNS


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two warmups x two seeds and one prior, under a root whose path needs quoting."""
    root = tmp_path_factory.mktemp("html") / "root with 'quotes' $HOME"
    specs = [spec_at(root, f"phase.warmup={w}", f"seed={s}") for w in (20, 30) for s in (0, 1)]
    runs = [train_run(spec, final=1.0 + 0.25 * i, status="finished" if i else "running")
            for i, spec in enumerate(specs)]
    runs.append(prior_run(specs[0]))
    return root, runs


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    root, runs = sweep
    out = tmp_path_factory.mktemp("out") / "report $dir"
    target, records = build_report([str(root)], out)
    return target, records, runs


def test_page_has_plots_table_and_what_varies(report):
    target, records, runs = report
    page = target.read_text()
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert [alt for alt, _ in images] == ["Distance against step", "Step against wall-clock time",
                                         "Prior loss against step"]
    for _, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    rows = re.findall(r'<tr data-run="([^"]+)">', page)
    assert sorted(rows) == sorted(f"{r.name}.{r.signature}" for r in runs)
    diff = page[page.index('<table id="diff"'):]
    headers = re.findall(r"<th>([^<]+)</th>", diff[:diff.index("</thead>")])
    # what the sweep varied, and not what it kept (nor the one prior's own settings)
    assert set(headers) == {"run", "phase.warmup", "seed"}
    assert "coloured by <b>phase.warmup</b>" in page     # the first setting the runs vary


def test_group_by_is_checked_and_aliases_work(sweep, tmp_path):
    root, _ = sweep
    with pytest.raises(ValueError, match=r"--group-by nonsense: .*phase\.warmup"):
        build_report([str(root)], tmp_path, group_by="nonsense")
    target, _ = build_report([str(root)], tmp_path, group_by="corpus")
    assert "coloured by <b>dataset</b>" in target.read_text()


def test_csv_and_markdown_hold_the_same_table(sweep, tmp_path):
    root, runs = sweep
    target, records = build_report([str(root)], tmp_path, "csv")
    table = list(csv.DictReader(io.StringIO(target.read_text())))
    assert list(table[0]) == [c.key for c in COLUMNS]
    by_run = {row["run"]: row for row in table}
    assert len(by_run) == 5
    running = by_run[f"{runs[0].name}.{runs[0].signature}"]
    assert running["state"] == "running (GAN)" and running["warmup"] == "20"
    assert float(running["distance"]) == pytest.approx(1.0 + 5.0 * 2.718281828 ** -3, rel=1e-4)
    prior = by_run[f"{runs[4].name}.{runs[4].signature}"]
    assert prior["stage"] == "prior" and prior["distance"] == "" and prior["steps"] == "40"
    md, _ = build_report([str(root)], tmp_path, "md")
    lines = md.read_text().splitlines()
    assert lines[0].startswith("| run | stage | corpus | hours | warmup | step budget |")
    assert len(lines) == 2 + 5


def test_two_sweeps_by_manifest_are_compared(sweep, tmp_path):
    root, runs = sweep
    for sweep_id, part in (("sweep-aaaa", runs[:2]), ("sweep-bbbb", runs[2:])):
        m = Manifest(sweep_id=sweep_id, root=str(root), cluster="local", executor="local")
        for run in part:
            m.add_run(ManifestRun(run.name, run.signature, run.stage, str(run.path), ""))
        m.save()
    target, records = build_report([str(root / "sweeps" / "sweep-aaaa"),
                                    str(root / "sweeps" / "sweep-bbbb" / "manifest.json")],
                                   tmp_path, group_by="sweep")
    assert [r.sweep for r in records] == ["sweep-aaaa"] * 2 + ["sweep-bbbb"] * 3
    page = target.read_text()
    assert "ravejobs report: sweep-aaaa, sweep-bbbb" in page
    diff = page[page.index('<table id="diff"'):]
    assert "<th>sweep</th>" in diff[:diff.index("</thead>")]


def test_report_command_writes_and_summarises(sweep, tmp_path, capsys):
    root, runs = sweep
    out = tmp_path / "cmd out"
    assert main(["report", str(root), "--out", str(out), "--format", "md"]) == 0
    printed = capsys.readouterr().out
    assert (out / "report.md").is_file() and "5 runs" in printed
    assert runs[1].signature in printed
    # the cache made the second report parse nothing new
    cache = MetricsCache(REPORT_KEYS, folder=out / ".metrics-cache")
    build_report([str(root)], out, "csv", cache=cache)
    assert cache.bytes_read == 0
    assert main(["report", str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_report_no_cache_reads_every_file_and_leaves_the_cache_alone(sweep, tmp_path):
    root, _ = sweep
    fresh = tmp_path / "fresh out"
    assert main(["report", str(root), "--out", str(fresh), "--format", "csv", "--no-cache"]) == 0
    assert (fresh / "report.csv").is_file() and not (fresh / ".metrics-cache").exists()
    cached = tmp_path / "cached out"
    assert main(["report", str(root), "--out", str(cached), "--format", "csv"]) == 0
    cache_files = sorted((cached / ".metrics-cache").iterdir())
    assert cache_files
    # A cache that lies (each file's series emptied, offsets kept): the cached report believes
    # it, --no-cache does not read it.
    for path in cache_files:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: (z[k][:0] if k != "meta" else z[k]) for k in z.files}
        np.savez(path, **arrays)
    stamps = [p.stat().st_mtime_ns for p in cache_files]
    assert main(["report", str(root), "--out", str(cached), "--format", "csv", "--no-cache"]) == 0
    assert (cached / "report.csv").read_text() == (fresh / "report.csv").read_text()
    assert [p.stat().st_mtime_ns for p in cache_files] == stamps
    assert main(["report", str(root), "--out", str(cached), "--format", "csv"]) == 0
    assert (cached / "report.csv").read_text() != (fresh / "report.csv").read_text()


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_report_renders_in_headless_chromium(report, tmp_path):
    target, records, runs = report
    dom = open_in_chromium(target, tmp_path / "profile", tmp_path / "report.png")
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-images="ok"' in body, body               # every <img> decoded, width > 0
    assert 'data-image-count="3"' in body and 'data-rows="5"' in body, body
    for run in runs:
        assert f'data-run="{run.name}.{run.signature}"' in dom
