"""`ravejobs duration`: how many audio files a folder holds and how long they last, from headers.

Only headers are read (libsndfile's `info`), never samples, so 10,000 files take seconds even on
Lustre; the reads run on a few threads because each one waits on the file system, not the CPU.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ravejobs.data.audio import scan


@dataclass
class DurationReport:
    folder: Path
    files: int = 0
    seconds: float = 0.0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def format_hms(seconds: float) -> str:
    """`10h 31m 12s`, the notebook's format (hours are not wrapped into days)."""
    total = int(round(seconds))
    return f"{total // 3600}h {total % 3600 // 60}m {total % 60}s"


def _header_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    if info.samplerate <= 0:
        raise ValueError("sample rate 0 in header")
    return info.frames / info.samplerate


def _probe(path: Path) -> tuple[Path, float | None, str]:
    try:
        if path.stat().st_size == 0:
            return path, None, "empty file (0 bytes)"
        return path, _header_seconds(path), ""
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported, not fatal
        return path, None, str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)


def measure(folder: str | Path, threads: int = 8) -> DurationReport:
    """Count audio-named files under `folder` (recursive) and sum their header durations."""
    folder = Path(folder)
    audio, _ = scan(folder)
    report = DurationReport(folder=folder)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for path, seconds, reason in pool.map(_probe, audio, chunksize=64):
            if seconds is None:
                report.unreadable.append((str(path), reason))
            else:
                report.files += 1
                report.seconds += seconds
    return report


def render(report: DurationReport) -> str:
    lines = [f"found {report.files} audio files", f"total duration: {format_hms(report.seconds)}"]
    if report.unreadable:
        lines.append(f"{len(report.unreadable)} unreadable files (not counted):")
        lines += [f"  {path}: {reason}" for path, reason in report.unreadable]
    return "\n".join(lines)
