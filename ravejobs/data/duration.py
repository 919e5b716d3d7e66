"""`ravejobs duration`: how many audio files a folder holds and how long they last, from headers.

Only headers are read (opening the file with libsndfile), never samples. On a local disk an open
costs ~60 us and a plain loop is fastest (threads only add GIL traffic); on Lustre each open waits
milliseconds on the metadata server, so when the first files are slow to open the rest are read on
threads, which overlap those waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ravejobs.data.audio import scan
from ravejobs.durations import format_duration


@dataclass
class DurationReport:
    folder: Path
    files: int = 0
    seconds: float = 0.0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    packed: tuple[int, int] | None = None   # (rate, augmented variants) for a packed store


def _header_seconds(path: Path) -> float:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        if f.samplerate <= 0:
            raise ValueError("sample rate 0 in header")
        return f.frames / f.samplerate


def _probe(path: Path) -> tuple[Path, float | None, str]:
    try:
        if path.stat().st_size == 0:
            return path, None, "empty file (0 bytes)"
        return path, _header_seconds(path), ""
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported, not fatal
        return path, None, str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)


SLOW_OPEN_S = 300e-6  # mean open time of the first files above which threads pay off
PROBE_FIRST = 256


def _probes(audio: list[Path], threads: int) -> Iterator[tuple[Path, float | None, str]]:
    t0 = time.perf_counter()
    head = [_probe(p) for p in audio[:PROBE_FIRST]]
    yield from head
    rest = audio[PROBE_FIRST:]
    if not rest:
        return
    if (time.perf_counter() - t0) / len(head) < SLOW_OPEN_S or threads <= 1:
        yield from map(_probe, rest)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        yield from pool.map(_probe, rest, chunksize=32)


def measure(folder: str | Path, threads: int = 16) -> DurationReport:
    """Count audio-named files under `folder` (recursive) and sum their header durations; a
    packed store (prepare's output) is read from its index: one entry per signal."""
    folder = Path(folder)
    if (folder / "index.json").is_file():
        from ravejobs.data.store import PackedStore

        store = PackedStore(folder)
        variants = sum(1 for e in store.entries if e.variant)
        return DurationReport(folder=folder, files=len(store.entries),
                              seconds=store.duration_s, packed=(store.sr, variants))
    audio, _ = scan(folder)
    report = DurationReport(folder=folder)
    for path, seconds, reason in _probes(audio, threads):
        if seconds is None:
            report.unreadable.append((str(path), reason))
        else:
            report.files += 1
            report.seconds += seconds
    return report


def render(report: DurationReport) -> str:
    total = format_duration(report.seconds, "hms")
    lines = [f"found {report.files} audio files", f"total duration: {total}"]
    if report.packed:
        sr, variants = report.packed
        lines[0] = (f"packed store: {report.files} signals ({report.files - variants} source "
                    f"files, {variants} augmented variants) at {sr} Hz")
        lines.append(f"listen with: ravejobs unpack {report.folder} OUT")
    if report.unreadable:
        lines.append(f"{len(report.unreadable)} unreadable files (not counted):")
        lines += [f"  {path}: {reason}" for path, reason in report.unreadable]
    return "\n".join(lines)
