"""The report's run table and config differences, shared by the HTML, Markdown, CSV and
terminal outputs so every format shows the same columns (docs/report.md explains each)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ravejobs.durations import format_duration
from ravejobs.naming import identity
from ravejobs.report.collect import RunRecord
from ravejobs.rundir import shown_status


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _kl(r: RunRecord) -> str | None:
    if r.spec is None:
        return None
    kl = r.spec.kl
    if kl.mode == "fixed":
        return f"fixed β={kl.beta:g}"
    return f"warmup {kl.beta_min:g}→{kl.beta_max:g}"


def _state(r: RunRecord) -> str:
    shown = shown_status(r.run, r.state)
    if shown == "blocked":
        return shown
    phase = {"vae": "VAE", "gan": "GAN", "prior": "prior"}.get(r.state.phase, r.state.phase)
    if phase and r.state.status != "finished":
        return f"{r.state.status} ({phase})"
    return r.state.status


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    help: str
    value: Callable[[RunRecord], Any]            # raw value: CSV and sorting
    text: Callable[[Any], str] = lambda v: "—" if v is None else str(v)


def _spec(get: Callable[[Any], Any]) -> Callable[[RunRecord], Any]:
    return lambda r: None if r.spec is None else get(r.spec)


COLUMNS: tuple[Column, ...] = (
    Column("run", "run", "name.signature of the run folder", lambda r: r.label),
    Column("stage", "stage", "train (the RAVE model) or prior", lambda r: r.run.stage),
    Column("corpus", "corpus", "dataset name (conf/dataset)", _spec(lambda s: s.dataset.name)),
    Column("hours", "hours", "hours of audio in the corpus (dataset.hours)",
           _spec(lambda s: s.dataset.hours), lambda v: _num(v, 3)),
    Column("warmup", "warmup", "VAE steps before the adversarial phase (phase.warmup)",
           _spec(lambda s: s.phase.warmup), lambda v: "—" if v is None else f"{v:,}"),
    Column("budget", "step budget", "steps the run is asked for: warmup + gan_steps "
           "(prior: prior.max_steps)", lambda r: r.budget,
           lambda v: "—" if v is None else f"{v:,}"),
    Column("kl", "KL mode", "kl.mode with its weight: fixed β, or a warmup ramp", _kl),
    Column("latent", "latent", "latent dimensions of the encoder (model.latent_size)",
           _spec(lambda s: s.model.latent_size)),
    Column("kept", "kept @95%", "dimensions that hold 95 % of the latent variance at the last "
           "validation (fidelity_95), else model.cropped_latent_size", lambda r: r.kept_size),
    Column("distance", "final distance", "last multiscale spectral distance logged "
           "(lower is better)", lambda r: r.final_distance, lambda v: _num(v)),
    Column("steps", "steps done", "last step reached", lambda r: r.steps_done,
           lambda v: f"{v:,}"),
    Column("wall", "wall time", "time spent running (logged time without queue waits)",
           lambda r: round(r.wall_s, 1), lambda v: format_duration(v, "hours")),
    Column("gpu_hours", "GPU-h", "wall time x GPUs per node", lambda r: round(r.gpu_hours, 3),
           lambda v: f"{v:.2f}"),
    Column("state", "state", "status from state.json (phase while running)", _state),
)


def rows(records: list[RunRecord]) -> list[list[Any]]:
    return [[c.value(r) for c in COLUMNS] for r in records]


def to_csv(records: list[RunRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in COLUMNS])
    writer.writerows([["" if v is None else v for v in row] for row in rows(records)])
    return out.getvalue()


def to_markdown(records: list[RunRecord]) -> str:
    head = "| " + " | ".join(c.header for c in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(c.text(v).replace("|", "\\|") for c, v in zip(COLUMNS, row,
                                                                            strict=True)) + " |"
            for row in rows(records)]
    return "\n".join([head, rule, *body]) + "\n"


def settings(record: RunRecord) -> dict[str, Any]:
    """The result-deciding settings of a run, flattened (ravejobs.naming.identity)."""
    return record.settings


def _varying(all_settings: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for s in all_settings:
        keys.extend(k for k in s if k not in keys)
    return [k for k in keys if len({repr(s.get(k)) for s in all_settings}) > 1]


def config_diff(records: list[RunRecord]) -> tuple[list[str], list[list[Any]]]:
    """Settings that differ between runs: (keys, one row of values per run, None if absent).

    Model settings are compared over every run (a prior inherits its model's); the prior's
    own settings only between priors, so a sweep with one prior shows none of them.
    """
    model = [identity(r.spec, "train") if r.spec else {} for r in records]
    keys = _varying(model)
    priors = [i for i, r in enumerate(records) if r.run.stage == "prior" and r.spec]
    prior_all = {i: settings(records[i]) for i in priors}
    prior_keys = [k for k in _varying(list(prior_all.values())) if k not in keys]
    values = [[m.get(k) for k in keys] + [prior_all.get(i, {}).get(k) for k in prior_keys]
              for i, m in enumerate(model)]
    keys = keys + prior_keys
    if len({r.sweep for r in records}) > 1:
        return ["sweep", *keys], [[r.sweep, *row] for r, row in zip(records, values, strict=True)]
    return keys, values


ALIASES = {"corpus": "dataset", "warmup": "phase.warmup", "kl": "kl.mode",
           "latent": "model.latent_size", "latent_size": "model.latent_size"}


def group_value(record: RunRecord, key: str) -> Any:
    """The value of a setting (dotted key or alias) for grouping; also sweep, stage, status."""
    key = ALIASES.get(key, key)
    if key == "sweep":
        return record.sweep
    if key == "stage":
        return record.run.stage
    if key == "status":
        return record.state.status
    return settings(record).get(key)


def check_group_key(records: list[RunRecord], key: str) -> str:
    """The resolved key, or a ValueError naming the keys one can group by."""
    resolved = ALIASES.get(key, key)
    known = {"sweep", "stage", "status"}
    for r in records:
        known.update(settings(r))
    if records and resolved not in known:
        raise ValueError(f"--group-by {key}: not a setting of these runs; use one of "
                         f"{', '.join(sorted(known | set(ALIASES)))}")
    return resolved


def default_group_key(records: list[RunRecord]) -> str:
    """The first setting the sweep varies, else the corpus."""
    keys, _ = config_diff([r for r in records if r.run.stage == "train"] or records)
    return next((k for k in keys if k != "sweep"), "dataset")
