"""What tells the points of a sweep apart: the result-deciding settings that differ between runs
of one stage, in short form (`seed=1 kl=warmup crop=16`), and display names that stay distinct
when points share a notebook name (`03-TR-99-DEMO #2`).

Pure: settings come from `naming.identity`; the plan, `status` and the report all use this, so
one run reads the same everywhere. Folder names are not changed (they must follow from the spec
alone, so a sweep typed again finds its runs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ravejobs.config import RunSpec
from ravejobs.naming import identity

SHORT = {"model.cropped_latent_size": "crop", "kl.mode": "kl", "kl.beta": "beta",
         "kl.steps": "kl.steps", "phase.warmup": "warmup", "phase.gan_steps": "gan_steps",
         "dataset": "corpus", "model.latent_size": "latent", "model.capacity": "capacity"}


def short_key(key: str) -> str:
    return SHORT.get(key, key.split(".", 1)[1] if key.startswith("model.") else key)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def varying(settings: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each run's settings, those every run has and whose value is not the same in all.

    A key only some runs have (the ramp of kl=warmup against kl=fixed) follows from one they
    all have (kl.mode), which is shown instead."""
    present = [s for s in settings if s]
    keys = sorted(set.intersection(*(set(s) for s in present))) if present else []
    differ = [k for k in keys if len({repr(s[k]) for s in present}) > 1]
    return [{k: s[k] for k in differ if k in s} for s in settings]


def differs(settings: Sequence[dict[str, Any]]) -> list[str]:
    """`seed=1 kl=warmup crop=16` per run: what sets it apart from the others."""
    return [" ".join(f"{short_key(k)}={_text(v)}" for k, v in d.items())
            for d in varying(settings)]


def display_names(names: Sequence[str]) -> list[str]:
    """Names as given, with ` #i` (1-based, in order) on those several runs share."""
    counts = Counter(names)
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(f"{name} #{seen[name]}" if counts[name] > 1 else name)
    return out


def describe(runs: Sequence[tuple[str, RunSpec | None, str]]) -> list[tuple[str, str]]:
    """(display name, differs) for (name, spec, stage) triples; compared within each stage."""
    result: list[tuple[str, str]] = [("", "")] * len(runs)
    for stage in dict.fromkeys(stage for _, _, stage in runs):
        idx = [i for i, (_, _, s) in enumerate(runs) if s == stage]
        settings = [identity(runs[i][1], stage) if runs[i][1] is not None else {} for i in idx]
        names = display_names([runs[i][0] for i in idx])
        for i, name, diff in zip(idx, names, differs(settings), strict=True):
            result[i] = (name, diff)
    return result
