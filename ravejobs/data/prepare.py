"""`ravejobs prepare`: a corpus folder -> a packed store, on every core, resumable.

Each worker decodes one file to mono at the target rate (soxr HQ), makes its augmented variants
when asked, and writes the int16 result to `<out>/.partial/<key>.npz` atomically. The key hashes
the file's relative path, size, mtime and the settings, so an interrupted prepare run again reuses
every finished file and redoes only the rest. When all files are done the pieces are packed into
one data file (see store.py) in sorted path order, `report.json` lists every file that could not
be used with its reason, and `.partial/` is removed. A store whose settings and source listing
match is left alone (`force=True` rebuilds it).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ravejobs.atomic import atomic_write_json
from ravejobs.data import augment as aug
from ravejobs.data.audio import NoAudioError, decode_mono, require_audio, to_int16
from ravejobs.data.store import REPORT, pack, read_index
from ravejobs.durations import format_duration

VERSION = 1  # bump when conversion changes, so caches and stores from older code are redone
PARTIAL = ".partial"


@dataclass
class PrepareReport:
    """What a prepare did; `bad` and `ignored` name every file left out, with the reason."""

    source: str
    out: str
    sr: int
    augment: bool
    seed: int
    inputs: int = 0
    prepared: int = 0
    entries: int = 0
    seconds: float = 0.0
    cached: int = 0
    skipped: bool = False
    fingerprint: str = ""
    elapsed_s: float = 0.0
    bad: list[dict[str, str]] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        head = "store up to date, nothing to do" if self.skipped else (
            f"prepared {self.prepared} of {self.inputs} audio files"
            f" ({self.cached} reused from an interrupted run)" if self.cached else
            f"prepared {self.prepared} of {self.inputs} audio files")
        lines = [
            f"{head}: {self.entries} signals, {format_duration(self.seconds, 'hms')} at "
            f"{self.sr} Hz"
            f"{' (augmented)' if self.augment else ''} -> {self.out}",
            f"fingerprint {self.fingerprint[:16]}",
        ]
        if self.bad:
            lines.append(f"{len(self.bad)} files could not be used:")
            lines += [f"  {b['path']}: {b['reason']}" for b in self.bad]
        if self.notes:
            lines.append(f"{len(self.notes)} files prepared with notes:")
            lines += [f"  {n['path']}: {n['note']}" for n in self.notes]
        if self.ignored:
            lines.append(f"{len(self.ignored)} non-audio files ignored (listed in {REPORT})")
        return "\n".join(lines)


def available_cpus() -> int:
    """Cores this process may use: the SLURM allocation, else the affinity mask."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    return len(os.sched_getaffinity(0))


def _key(rel: str, path: Path, sr: int, augment: bool, seed: int) -> str:
    st = path.stat()
    text = f"{VERSION}|{rel}|{st.st_size}|{st.st_mtime_ns}|{sr}|{augment}|{seed}|{aug.VARIANTS}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()


def source_digest(src: Path, files: list[Path]) -> str:
    """A cheap digest of the source listing (names, sizes, mtimes): has the corpus changed?"""
    h = hashlib.sha1()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(src).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n"
                 .encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _write_cache(cache_file: str, arrays: dict[str, np.ndarray]) -> None:
    """Temporary file + rename, without fsync: a cache entry only has to survive a killed job
    (which cannot leave half a renamed file); one damaged by a power cut fails `_cached` and is
    redone. Skipping fsync keeps small files from waiting on the disk."""
    tmp = f"{cache_file}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, cache_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _convert(task: tuple[str, str, int, bool, int, str]) -> dict[str, Any]:
    """Worker: one file -> its cached npz. Never raises: a failure is a result with a reason."""
    path, rel, sr, augment, seed, cache_file = task
    try:
        dec = decode_mono(path, sr)
        signals = aug.variants(dec.audio, sr, seed, rel) if augment else [(dec.audio, None)]
        arrays: dict[str, np.ndarray] = {}
        params: list[dict | None] = []
        notes = list(dec.notes)
        for v, (x, p) in enumerate(signals):
            arrays[f"v{v}"], clipped = to_int16(x)
            params.append(p)
            if clipped and v == 0:
                notes.append(f"{clipped} samples clipped")
        meta = {"path": rel, "source_sr": dec.source_sr, "channels": dec.channels,
                "format": dec.format, "params": params, "notes": notes,
                "lengths": [int(a.size) for a in arrays.values()]}
        arrays["meta"] = np.array(json.dumps(meta))
        _write_cache(cache_file, arrays)
        return {"ok": True, **meta}
    except Exception as err:  # noqa: BLE001 - every failure becomes a reported reason
        reason = str(err).strip() or type(err).__name__
        if not reason.startswith(("empty", "zero")):
            reason = f"{type(err).__name__}: {reason}"
        return {"ok": False, "path": rel, "reason": reason.replace("\n", " ")}


def _cached(cache_file: Path) -> dict[str, Any] | None:
    try:
        with np.load(cache_file) as z:
            return {"ok": True, **json.loads(str(z["meta"]))}
    except (OSError, ValueError, KeyError):
        return None


def _start_method() -> str:
    """forkserver (workers forked from a clean server: no threads copied, cheap starts), unless
    the temp folder's path is too long for its AF_UNIX socket (108 bytes on Linux, socket name
    included): a long $TMPDIR then takes spawn instead of failing with "AF_UNIX path too long"."""
    return "forkserver" if len(os.fsencode(tempfile.gettempdir())) < 60 else "spawn"


def _run(tasks: list[tuple], workers: int, progress: bool) -> Iterator[dict[str, Any]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("[bold]prepare", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), disable=not progress)
    with bar:
        job = bar.add_task("files", total=len(tasks))
        if workers <= 1 or len(tasks) <= 1:
            for t in tasks:
                yield _convert(t)
                bar.advance(job)
            return
        ctx = multiprocessing.get_context(_start_method())
        done: set[str] = set()
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                for fut in as_completed([pool.submit(_convert, t) for t in tasks]):
                    res = fut.result()
                    done.add(res["path"])
                    yield res
                    bar.advance(job)
        except BrokenProcessPool:
            # A worker died (out of memory, or a decoder crash on a hostile file): finish the
            # rest one file per process, so only the file that kills its process is lost.
            for t in tasks:
                if t[1] in done:
                    continue
                try:
                    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as solo:
                        yield solo.submit(_convert, t).result()
                except BrokenProcessPool:
                    yield {"ok": False, "path": t[1],
                           "reason": "the worker process died decoding it (crash or out of memory)"}
                bar.advance(job)


def prepare_corpus(src: str | os.PathLike[str], packed_out: str | os.PathLike[str], sr: int,
                   augment: bool = False, seed: int = 0, workers: int | None = None,
                   force: bool = False, progress: bool = True,
                   log: Callable[[str], Any] = print) -> PrepareReport:
    """Convert every audio file under `src` into the packed store `packed_out` at `sr` Hz."""
    t0 = time.perf_counter()
    src, out = Path(src), Path(packed_out)
    if sr <= 0:
        raise ValueError(f"--sr {sr}: the sample rate must be positive")
    audio, other = require_audio(src, exclude=out)
    report = PrepareReport(source=str(src), out=str(out), sr=sr, augment=augment, seed=seed,
                           inputs=len(audio))
    report.ignored = [{"path": p.relative_to(src).as_posix(),
                       "reason": f"extension {p.suffix or '(none)'!r} is not an audio format"}
                      for p in other]
    settings = {"sr": sr, "augment": augment, "seed": seed, "version": VERSION,
                "variants": aug.VARIANTS if augment else 0,
                "source_digest": source_digest(src, audio)}
    existing = read_index(out)
    if not force and existing and all(existing.get(k) == v for k, v in settings.items()):
        old = out / REPORT
        if old.is_file():
            report = PrepareReport(**json.loads(old.read_text()))
        report.skipped, report.elapsed_s = True, time.perf_counter() - t0
        log(report.render())
        return report

    cache = out / PARTIAL
    cache.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    tasks = []
    for p in audio:
        rel = p.relative_to(src).as_posix()
        files[rel] = cache / f"{_key(rel, p, sr, augment, seed)}.npz"
        hit = _cached(files[rel]) if files[rel].is_file() else None
        if hit is not None:
            results[rel] = hit
            report.cached += 1
        else:
            tasks.append((str(p), rel, sr, augment, seed, str(files[rel])))
    for res in _run(tasks, workers or available_cpus(), progress):
        results[res["path"]] = res

    good = [rel for rel in sorted(results) if results[rel]["ok"]]
    report.bad = [{"path": r, "reason": results[r]["reason"]}
                  for r in sorted(results) if not results[r]["ok"]]
    report.notes = [{"path": r, "note": n} for r in good for n in results[r]["notes"]]
    report.prepared = len(good)
    if not good:
        atomic_write_json(out / REPORT, report.to_dict())
        reasons = "; ".join(f"{b['path']}: {b['reason']}" for b in report.bad[:3])
        raise NoAudioError(f"{src}: none of its {len(audio)} audio files could be read ({reasons})")

    def signals() -> Iterator[tuple[dict[str, Any], np.ndarray]]:
        for rel in good:
            meta = results[rel]
            with np.load(files[rel]) as z:
                for v, params in enumerate(meta["params"]):
                    info = {"path": rel, "variant": v, "source_sr": meta["source_sr"],
                            "channels": meta["channels"], "format": meta["format"],
                            "augment": params}
                    yield info, z[f"v{v}"]

    store = pack(out, sr, signals(), meta=settings)
    report.entries = len(store.files)
    report.seconds = store.duration_s
    report.fingerprint = store.fingerprint
    report.elapsed_s = time.perf_counter() - t0
    atomic_write_json(out / REPORT, report.to_dict())
    shutil.rmtree(cache, ignore_errors=True)
    log(report.render())
    return report
