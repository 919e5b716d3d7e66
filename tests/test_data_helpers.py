"""Shared helpers for the data tests: real audio files in the formats users bring, and bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(seconds: float, sr: int, freq: float = 440.0, channels: int = 1,
         amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    if channels == 1:
        return x
    # channels differ (second is phase-shifted), so a mono mix is not a copy of one channel
    return np.stack([amp * np.sin(2 * np.pi * freq * t + c) for c in range(channels)], axis=1)


def write_good(folder: Path) -> dict[str, float]:
    """Three real files in different formats: name -> duration in seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "stereo 44k.wav", tone(1.0, 44100, 440, 2), 44100, subtype="PCM_16")
    sub = folder / "sub dir"
    sub.mkdir(exist_ok=True)
    sf.write(sub / "chanson été.flac", tone(0.5, 48000, 330), 48000, subtype="PCM_24")
    sf.write(folder / "mono22k.wav", tone(0.8, 22050, 220), 22050, subtype="FLOAT")
    return {"stereo 44k.wav": 1.0, "sub dir/chanson été.flac": 0.5, "mono22k.wav": 0.8}


def write_bad(folder: Path) -> dict[str, str]:
    """Files a real corpus contains by accident: name -> a word its reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("these are my notes, not audio\n")
    sf.write(folder / "silent.wav", np.zeros((0, 1)), 16000, subtype="PCM_16")
    whole = folder / "whole.flac"
    sf.write(whole, tone(1.0, 16000), 16000, subtype="PCM_16")
    (folder / "corrupt.flac").write_bytes(b"fLaC" + bytes(range(256)) * 4)
    whole.unlink()
    return {"empty.wav": "empty", "notes.wav": "format", "silent.wav": "zero",
            "corrupt.flac": "Error"}


def write_truncated(path: Path, seconds: float = 3.0, sr: int = 16000) -> None:
    """A file cut off half-way (a broken copy): wav keeps a shorter header, flac loses sync."""
    noise = 0.01 * np.random.default_rng(0).standard_normal(int(seconds * sr))
    sf.write(path, tone(seconds, sr) + noise, sr, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
