"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes.

Runs are coloured by one setting (`--group-by`), so ten runs on a figure read as two or three
groups, the way the notebook compared them. Curves are thinned to a few thousand points:
a 3M-step run logged every 100 steps has 30k, more than a figure has pixels.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ravejobs.metrics.cache import Series
from ravejobs.report.collect import RunRecord
from ravejobs.report.table import group_value

MAX_POINTS = 2000


@dataclass(frozen=True)
class Plot:
    key: str          # distance | step_time | prior
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


def thin(series: Series, n: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most about n points, evenly spaced in index, first and last kept."""
    if len(series) <= n:
        return series.step, series.time, series.value
    idx = np.unique(np.linspace(0, len(series) - 1, n).astype(np.int64))
    return series.step[idx], series.time[idx], series.value[idx]


def _sort_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def colours(records: Iterable[RunRecord], group_by: str) -> dict[Any, Any]:
    """Group value -> colour; tab10 for up to ten groups, viridis beyond."""
    from matplotlib import colormaps

    values = sorted({repr(group_value(r, group_by)): group_value(r, group_by)
                     for r in records}.values(), key=_sort_key)
    if len(values) <= 10:
        return {repr(v): colormaps["tab10"](i) for i, v in enumerate(values)}
    return {repr(v): colormaps["viridis"](i / (len(values) - 1)) for i, v in enumerate(values)}


def _legend(ax: Any, counts: dict[str, int], handles: dict[str, Any], group_by: str) -> None:
    if not handles:
        return
    labels = [f"{group_by}={k} ({counts[k]} run{'s' if counts[k] > 1 else ''})" for k in handles]
    ax.legend(list(handles.values())[:20], labels[:20], fontsize=8, loc="best")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, pil_kwargs={"compress_level": 1})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.8))
    fig.subplots_adjust(left=0.06, right=0.99, top=0.93, bottom=0.11)  # fixed: layout is slow
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _curves(ax: Any, records: list[RunRecord], key: str, group_by: str, x: str,
            style: str = "-", scale: float = 3600.0) -> tuple[dict[str, int], dict[str, Any]]:
    palette = colours(records, group_by)
    counts: dict[str, int] = {}
    handles: dict[str, Any] = {}
    for r in records:
        series = r.metrics.get(key)
        if series is None or not len(series):
            continue
        group = group_value(r, group_by)
        name = str(group)
        steps, times, values = thin(series)
        if x == "time":
            xs, ys = (times - series.time[0]) / scale, steps
        else:
            xs, ys = steps, values
        (line,) = ax.plot(xs, ys, style, color=palette[repr(group)], lw=1.0, alpha=0.85,
                          marker="o" if len(xs) < 3 else None, ms=3)
        counts[name] = counts.get(name, 0) + 1
        handles.setdefault(name, line)
    return counts, handles


def _log_if_wide(ax: Any, values: list[np.ndarray]) -> None:
    """A log axis when positive values span more than 30x: one diverging run (a GAN phase
    blowing up) would otherwise flatten every other curve to a line at zero."""
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if len(v)]
    if not finite:
        return
    lo = min(float(v.min()) for v in finite)
    hi = max(float(v.max()) for v in finite)
    if lo > 0 and hi / lo > 30:
        ax.set_yscale("log")


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} logged yet", transform=ax.transAxes, ha="center",
            va="center", color="0.4")


def distance_plot(records: list[RunRecord], group_by: str) -> Plot:
    train = [r for r in records if r.run.stage == "train"]
    fig, ax = _figure("Multiscale spectral distance", "step", "distance")
    counts, handles = _curves(ax, train, "distance", group_by, "step")
    if not handles:
        _empty(ax, "distance")
    _log_if_wide(ax, [r.metrics["distance"].value for r in train if "distance" in r.metrics])
    palette = colours(train, group_by)
    warmups: dict[int, Any] = {}
    for r in train:
        if r.spec is not None:
            same = group_by == "phase.warmup"
            warmups.setdefault(r.spec.phase.warmup,
                               palette[repr(group_value(r, group_by))] if same else "0.35")
    for w, colour in sorted(warmups.items()):
        ax.axvline(w, ls="--", lw=1, color=colour)
        if len(warmups) <= 8:
            ax.text(w, 0.98, " VAE→GAN", transform=ax.get_xaxis_transform(), rotation=90,
                    va="top", ha="right", fontsize=8, color=colour)
    _legend(ax, counts, handles, group_by)
    return Plot("distance", "Distance against step",
                "Dashed lines: the VAE→GAN boundary (phase.warmup) of the runs.", _png(fig))


def step_time_plot(records: list[RunRecord], group_by: str) -> Plot:
    spans = [float(s.time.max() - s.time.min()) for r in records
             for s in (r.metrics.get("distance"), r.metrics.get("prior_loss")) if s and len(s)]
    scale, unit = (3600.0, "hours") if max(spans, default=0.0) >= 7200 else (60.0, "minutes")
    fig, ax = _figure("Progress", f"{unit} since the run's first logged step", "step")
    counts: dict[str, int] = {}
    handles: dict[str, Any] = {}
    for stage, style in (("train", "-"), ("prior", ":")):
        subset = [r for r in records if r.run.stage == stage]
        c, h = _curves(ax, subset, "prior_loss" if stage == "prior" else "distance", group_by,
                       "time", style, scale)
        for k, n in c.items():
            counts[k] = counts.get(k, 0) + n
            handles.setdefault(k, h[k])
    if not handles:
        _empty(ax, "progress")
    _legend(ax, counts, handles, group_by)
    return Plot("step_time", "Step against wall-clock time",
                "Solid: models; dotted: priors. Flat stretches are waits in the queue between "
                "requeued jobs.", _png(fig))


def prior_plot(records: list[RunRecord], group_by: str) -> Plot:
    priors = [r for r in records if r.run.stage == "prior"]
    fig, ax = _figure("Prior loss", "step", "cross-entropy")
    counts, handles = _curves(ax, priors, "prior_loss", group_by, "step")
    _curves(ax, priors, "prior_val_loss", group_by, "step", "--")
    if not handles:
        _empty(ax, "prior loss")
    _legend(ax, counts, handles, group_by)
    return Plot("prior", "Prior loss against step",
                "Solid: training loss; dashed: validation loss.", _png(fig))


def all_plots(records: list[RunRecord], group_by: str) -> list[Plot]:
    plots = [distance_plot(records, group_by), step_time_plot(records, group_by)]
    if any(r.run.stage == "prior" for r in records):
        plots.append(prior_plot(records, group_by))
    return plots
