"""Finding audio files in a corpus folder and decoding one to mono at a target rate.

Decoding streams blocks through libsndfile and soxr so an hour-long album costs the memory of its
mono output, not of its decoded multichannel float input, when many workers run at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# What libsndfile (1.1+, with mp3) reads; matched case-insensitively on the suffix.
AUDIO_EXTS = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".mp3",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".voc", ".sd2", ".paf", ".ircam", ".sf", ".nist",
})
BLOCK_FRAMES = 1 << 18
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_III")


class NoAudioError(ValueError):
    """A corpus folder without a single audio file: a wrong path, most of the time."""


def is_audio_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTS


def scan(root: str | Path, exclude: Path | None = None) -> tuple[list[Path], list[Path]]:
    """All files under `root` (recursive, sorted): (audio-named files, other files).

    `exclude` is a folder to leave out (the packed output when it sits inside the corpus).
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: no such folder")
    audio: list[Path] = []
    other: list[Path] = []
    excluded = exclude.resolve() if exclude is not None and exclude.exists() else None
    for dirpath, dirnames, filenames in os.walk(root):
        if excluded is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d).resolve() != excluded]
        for name in filenames:
            path = Path(dirpath, name)
            (audio if is_audio_name(name) else other).append(path)
    audio.sort()
    other.sort()
    return audio, other


def require_audio(root: str | Path, exclude: Path | None = None) -> tuple[list[Path], list[Path]]:
    """`scan`, but a folder with no audio-named file is a NoAudioError naming the folder."""
    audio, other = scan(root, exclude)
    if not audio:
        exts = ", ".join(sorted(AUDIO_EXTS)[:8])
        raise NoAudioError(
            f"{root}: no audio files found ({len(other)} other files; looked for {exts}, ...)"
        )
    return audio, other


@dataclass
class Decoded:
    """A decoded file: mono float32 at the target rate plus notes for the report."""

    audio: np.ndarray
    source_sr: int
    channels: int
    format: str
    notes: list[str] = field(default_factory=list)


def _peak(path: Path) -> float:
    import soundfile as sf

    peak = 0.0
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(4096, dtype="float32", always_2d=True):
                peak = max(peak, float(np.abs(block).max(initial=0.0)))
    except (RuntimeError, sf.LibsndfileError):
        pass  # damage is reported by the decoding pass; the peak of what was read is enough
    return peak


def _mix(block: np.ndarray) -> np.ndarray:
    """Average the channels; column adds are ~10x faster than `mean(axis=1)` on (n, ch) data."""
    mono = block[:, 0].copy()
    for c in range(1, block.shape[1]):
        mono += block[:, c]
    if block.shape[1] > 1:
        mono *= np.float32(1.0 / block.shape[1])
    return mono


def _stream(path: Path, source_sr: int, sr: int, block_frames: int,
            tolerate: bool = False) -> tuple[np.ndarray, int]:
    """Decode + mix + resample block by block; with `tolerate`, stop quietly at a decode error."""
    import soundfile as sf
    import soxr

    resampler = None
    if source_sr != sr:
        resampler = soxr.ResampleStream(source_sr, sr, 1, dtype="float32", quality="HQ")
    out: list[np.ndarray] = []
    read = 0
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(block_frames, dtype="float32", always_2d=True):
                read += len(block)
                mono = _mix(block)
                out.append(resampler.resample_chunk(mono) if resampler else mono)
    except (RuntimeError, sf.LibsndfileError):
        if not tolerate:
            raise
    if resampler is not None:
        out.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    return (np.concatenate(out) if out else np.zeros(0, np.float32)), read


def decode_mono(path: str | Path, sr: int) -> Decoded:
    """Decode any libsndfile format to mono float32 at `sr` (soxr, high quality).

    Channels are averaged. A float source whose peak exceeds 1 is scaled down (noted), because
    the store is int16. A file that stops decoding early keeps what was read (noted) when that is
    more than nothing; otherwise the error propagates with the libsndfile message.
    """
    import soundfile as sf

    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError("empty file (0 bytes)")
    info = sf.info(str(path))
    if info.frames <= 0 or info.samplerate <= 0:
        raise ValueError("zero duration (no audio frames)")
    notes: list[str] = []
    gain = 1.0
    if info.subtype in FLOAT_SUBTYPES or info.subtype.startswith(("FLOAT", "DOUBLE")):
        peak = _peak(path)
        if peak > 1.0:
            gain = 0.999 / peak
            notes.append(f"peak {peak:.3g} > 1: scaled by {gain:.3g}")
    try:
        audio, read = _stream(path, info.samplerate, sr, BLOCK_FRAMES)
    except (RuntimeError, sf.LibsndfileError) as err:  # corrupt or truncated mid-stream
        # salvage what decodes before the damage, reading in small blocks
        audio, read = _stream(path, info.samplerate, sr, 4096, tolerate=True)
        if read == 0:
            raise
        notes.append(f"decoding stopped at frame {read} of {info.frames}: {err}")
    if read == 0 or audio.size == 0:
        raise ValueError("zero duration (no audio frames decoded)")
    if 0 < read < info.frames and not any("stopped" in n for n in notes):
        notes.append(f"truncated: header says {info.frames} frames, read {read}")
    if gain != 1.0:
        audio *= np.float32(gain)
    return Decoded(audio=audio.astype(np.float32, copy=False), source_sr=info.samplerate,
                   channels=info.channels, format=f"{info.format}/{info.subtype}", notes=notes)


def to_int16(x: np.ndarray) -> tuple[np.ndarray, int]:
    """float32 in [-1, 1] -> int16, and how many samples had to be clipped."""
    scaled = x * np.float32(32767.0)
    clipped = int(np.count_nonzero(np.abs(scaled) > 32767.0))
    np.clip(scaled, -32767.0, 32767.0, out=scaled)
    return np.rint(scaled).astype(np.int16), clipped
