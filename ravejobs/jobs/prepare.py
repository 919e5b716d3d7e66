"""The prepare stage: make sure a sweep point's corpus exists as a packed store, then stop.

Runs on CPUs (an array over corpora). The demo corpus is generated first when the dataset asks
for it and its raw folder is missing. Preparation resumes from its per-file cache when requeued,
and a store that is already current is left alone, so running the stage twice costs a listing.
The augmentation seed is fixed (0), not the sweep seed: the packed folder is shared by every sweep
point on the corpus, and two seeds must not fight over it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ravejobs.config import RunSpec
from ravejobs.data.store import read_index
from ravejobs.rundir import RunDir

AUGMENT_SEED = 0


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def prepare_for_spec(spec: RunSpec, workers: int | None = None,
                     log: Any = print) -> dict[str, Any]:
    """Generate (demo) and prepare the corpus of `spec`; a small summary for state.json."""
    from ravejobs.data.demo import make_demo_corpus
    from ravejobs.data.prepare import available_cpus, prepare_corpus

    d = spec.dataset
    raw, packed = Path(d.raw), Path(d.packed)
    if d.generate and not _has_files(raw):
        log(f"prepare: generating the demo corpus at {raw} ({d.sr} Hz)")
        make_demo_corpus(raw, sr=d.sr)
    if not raw.is_dir():
        index = read_index(packed)
        if index is not None and index["sr"] == d.sr:
            log(f"prepare: {raw} is absent; using the existing store at {packed}")
            return {"store": str(packed), "fingerprint": index["fingerprint"],
                    "seconds": index["num_samples"] / index["sr"], "skipped": True,
                    "entries": len(index["entries"]), "bad": 0}
        raise FileNotFoundError(
            f"dataset.raw={raw}: no such folder and no store at dataset.packed={packed}")
    report = prepare_corpus(raw, packed, d.sr, augment=d.augment, seed=AUGMENT_SEED,
                            workers=workers or available_cpus(), progress=sys.stderr.isatty(),
                            log=log)
    return {"store": str(packed), "fingerprint": report.fingerprint, "seconds": report.seconds,
            "entries": report.entries, "bad": len(report.bad), "skipped": report.skipped}


class PrepareJob:
    """The prepare stage for the runner; `python -m ravejobs.jobs.prepare RUN_DIR` by hand.

    Nothing to save at the time limit: finished files are cached in `.partial/`, so a requeued
    task redoes only the rest.
    """

    restored = False

    def __init__(self, run: RunDir):
        self.run_dir = run

    def save(self, reason: str) -> tuple[str, int]:
        raise RuntimeError("prepare keeps no checkpoint")

    def run(self, signals: Any = None) -> dict[str, Any]:
        from ravejobs.data.prepare import available_cpus

        run = self.run_dir
        spec = run.spec()
        run.update_state(stage="prepare", phase="prepare")
        workers = min(spec.cluster.cpus_per_task, available_cpus())
        summary = prepare_for_spec(spec, workers=workers)
        done = "store up to date" if summary["skipped"] else "store written"
        run.update_state(message=f"{done}: {summary['store']}",
                         extra={**run.state().extra, "data": summary})
        return summary  # finished (no steps)


def main(argv: list[str] | None = None) -> int:
    from ravejobs.jobs.runner import by_hand

    return by_hand("prepare", argv)


if __name__ == "__main__":
    sys.exit(main())
