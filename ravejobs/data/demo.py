"""The demo corpus ravejobs makes for itself: about a minute of varied sound, small enough to
train the tiny model on a CPU, and the same bytes every time for a given (sr, seconds, seed).

Clips of `CLIP_S` seconds cycle through five kinds: a tone (harmonics, vibrato, glide), a chord,
filtered noise bursts, percussive clicks and drums, and speech from espeak-ng when it is on PATH
(otherwise a formant-like "vowel" tone takes its place). Written as 16-bit mono wav.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CLIP_S = 5.0
PHRASES = (
    "The quick brown fox jumps over the lazy dog.",
    "Listen to the sound of the river at night.",
    "Poetry is what gets lost in translation.",
    "Time and space are audio documents too.",
    "A neural network learns to whisper.",
    "One, two, three, four, five, six, seven.",
)


def _env(n: int, sr: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def _tone(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    f0 = rng.uniform(110, 440) * (1 + 0.2 * t / t[-1])
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return x * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t) ** 2)


def _chord(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    root = rng.uniform(100, 300)
    notes = root * 2 ** (np.array(rng.choice([[0, 4, 7], [0, 3, 7], [0, 5, 9], [0, 4, 10]])) / 12)
    return sum(np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in notes)


def _noise(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    x = np.zeros(n)
    for start in np.sort(rng.integers(0, n - sr // 4, size=6)):
        m = int(rng.uniform(0.1, 0.6) * sr)
        m = min(m, n - start)
        lo = rng.uniform(100, 0.2 * sr)
        sos = butter(2, [lo, min(lo * 3, 0.45 * sr)], "bandpass", fs=sr, output="sos")
        x[start:start + m] += sosfilt(sos, rng.standard_normal(m)) * _env(m, sr, 0.02, m / sr / 3)
    return x


def _clicks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    x = np.zeros(n)
    beat = int(sr * rng.uniform(0.2, 0.4))
    for i, start in enumerate(range(0, n - beat, beat)):
        m = beat
        t = np.arange(m) / sr
        if i % 4 == 0:  # kick: falling sine
            hit = np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 8)
        elif i % 2:  # hat / click: short noise
            hit = rng.standard_normal(m) * np.exp(-t * 120)
        else:  # snare: noise + tone
            hit = (rng.standard_normal(m) * 0.6 + np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 25)
        x[start:start + m] += hit
    return x


def _speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """espeak-ng speech resampled to `sr`, or a vowel-like tone when espeak-ng is missing."""
    import soundfile as sf
    import soxr

    exe = shutil.which("espeak-ng")
    text = PHRASES[int(rng.integers(len(PHRASES)))]
    if exe:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp, "say.wav")
            proc = subprocess.run([exe, "-w", str(wav), "-s", "150", "--", text],
                                  capture_output=True, timeout=60, check=False)
            if proc.returncode == 0 and wav.is_file():
                y, rate = sf.read(str(wav), dtype="float32", always_2d=True)
                y = y.mean(axis=1)
                y = soxr.resample(y, rate, sr, quality="HQ") if rate != sr else y
                x = np.zeros(n)
                x[: min(n, len(y))] = y[:n]
                return x
    t = np.arange(n) / sr
    f0 = 120 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    return sum(np.sin(k * phase) * np.exp(-((k * 120 - 700) / 400) ** 2) for k in range(1, 30))


KINDS = (("tone", _tone), ("chord", _chord), ("noise", _noise), ("clicks", _clicks),
         ("speech", _speech))


def make_demo_corpus(out_dir: str | os.PathLike[str], sr: int = 16000, seconds: float = 60.0,
                     seed: int = 0) -> Path:
    """Write the demo corpus into `out_dir` (created whole, then renamed into place)."""
    import soundfile as sf

    out = Path(out_dir)
    n_clips = max(1, round(seconds / CLIP_S))
    n = int(round(seconds / n_clips * sr))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}.", dir=out.parent))
    try:
        for i in range(n_clips):
            kind, make = KINDS[i % len(KINDS)]
            rng = np.random.default_rng([seed, i])
            x = make(rng, n, sr)
            x = 0.8 * x / max(float(np.abs(x).max()), 1e-9)
            sf.write(str(tmp / f"{i:02d}-{kind}.wav"), x.astype(np.float32), sr, subtype="PCM_16")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.is_dir():  # another job made it meanwhile: fine; otherwise a real failure
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
