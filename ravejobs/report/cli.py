"""`ravejobs report SWEEP [SWEEP ...] --out DIR`: a sweep comparison page, table or CSV.

Parsed metrics are kept in `<out>/.metrics-cache/` so the same report run again reads only
what the jobs appended since.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ravejobs.atomic import atomic_write_text
from ravejobs.metrics.cache import MetricsCache
from ravejobs.report.collect import REPORT_KEYS, RunRecord, collect
from ravejobs.report.table import (
    COLUMNS,
    check_group_key,
    default_group_key,
    rows,
    to_csv,
    to_markdown,
)

FORMATS = {"html": "report.html", "md": "report.md", "csv": "report.csv"}


def build_report(refs: list[str], out: str | Path, fmt: str = "html", group_by: str | None = None,
                 cache: MetricsCache | None = None) -> tuple[Path, list[RunRecord]]:
    """Write the report for these sweeps into `out`; returns (file written, runs)."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = cache or MetricsCache(REPORT_KEYS, out / ".metrics-cache")
    records = collect(refs, cache)
    if not records:
        raise ValueError(f"{' '.join(map(str, refs))}: no train or prior runs to report")
    target = out / FORMATS[fmt]
    if fmt == "csv":
        atomic_write_text(target, to_csv(records))
    elif fmt == "md":
        atomic_write_text(target, to_markdown(records))
    else:
        from ravejobs.report.html import render
        from ravejobs.report.plots import all_plots

        key = check_group_key(records, group_by) if group_by else default_group_key(records)
        sweeps = list(dict.fromkeys(r.sweep for r in records))
        audio = copy_audio(records, out)
        atomic_write_text(target, render(records, all_plots(records, key), sweeps, key, audio))
    return target, records


def copy_audio(records: list[RunRecord], out: Path) -> dict[str, tuple[int, dict[str, str]]]:
    """Copy each run's newest clips to `out/audio/<run>/`; {run: (step, {kind: relative path})}.

    Clips of older validations copied earlier are removed, so the folder holds what the page
    shows."""
    import shutil

    from ravejobs.listening import latest_clips

    found: dict[str, tuple[int, dict[str, str]]] = {}
    for record in records:
        latest = latest_clips(record.run.path)
        if latest is None:
            continue
        step, clips = latest
        folder = out / "audio" / record.label
        if folder.is_dir():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        rel = {}
        for kind, path in clips.items():
            shutil.copy2(path, folder / path.name)
            rel[kind] = f"audio/{record.label}/{path.name}"
        found[record.label] = (step, rel)
    return found


def print_summary(records: list[RunRecord], target: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    wanted = ("run", "corpus", "warmup", "kl", "kept", "distance", "steps", "wall", "state")
    columns = [c for c in COLUMNS if c.key in wanted]
    table = Table(title=f"{len(records)} runs")
    for c in columns:
        table.add_column(c.header, justify="right" if c.key in ("distance", "steps") else "left")
    index = [COLUMNS.index(c) for c in columns]
    for row in rows(records):
        table.add_row(*(COLUMNS[i].text(row[i]) for i in index))
    console = Console(width=None if Console().is_terminal else 160)
    console.print(table)
    console.print(f"wrote {target}")


def _run(args: argparse.Namespace) -> int:
    cache = MetricsCache(REPORT_KEYS, None if args.no_cache else Path(args.out) / ".metrics-cache")
    target, records = build_report(args.sweeps, args.out, args.format, args.group_by, cache)
    print_summary(records, target)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="compare the runs of sweeps: curves, table, config differences",
        description="Write one self-contained HTML page (or the table as Markdown/CSV) for the "
                    "runs of one or more sweeps. SWEEP: a sweep id, sweep folder, manifest.json, "
                    "`latest`, a run folder or a folder of run folders.")
    p.add_argument("sweeps", nargs="+", metavar="SWEEP")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write report.html / .md / .csv into")
    p.add_argument("--format", choices=tuple(FORMATS), default="html",
                   help="html (page with curves and audio), md or csv (default html)")
    p.add_argument("--group-by", default=None, metavar="KEY",
                   help="setting that colours the curves: dataset (corpus), phase.warmup "
                        "(warmup), kl.mode (kl), model.latent_size, seed, sweep ... "
                        "(default: the first setting the runs vary)")
    p.add_argument("--no-cache", action="store_true",
                   help="parse every metrics file from the start (no <out>/.metrics-cache)")
    p.set_defaults(func=_run)
