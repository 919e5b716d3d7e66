"""Audio a run leaves to listen to: a few seconds of input, reconstruction and prior samples
written at each validation as `<run>/audio/step-<n>-<kind>.wav`, and found again by the report.

Bottom layer (numpy and soundfile, no torch): the training runtime hands over arrays; the report
reads file names. Files are written by a rename, and only the newest KEEP_STEPS validations are
kept, so a million-step run does not fill project storage with wavs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ravejobs.atomic import atomic_write_bytes

AUDIO_DIR = "audio"
KINDS = ("input", "recon", "prior")   # the order players appear in
KEEP_STEPS = 3
SECONDS = 4.0                         # at most this much per clip
_NAME = re.compile(r"step-(\d+)-([a-z]+)\.wav")


def _wav(samples: np.ndarray, sr: int) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def write_clips(run_path: str | Path, step: int, clips: dict[str, np.ndarray],
                sr: int) -> list[Path]:
    """Write each clip (float, mono, any length: cut to SECONDS) for `step`; prune old steps."""
    folder = Path(run_path) / AUDIO_DIR
    written = []
    for kind, samples in clips.items():
        if kind not in KINDS:
            raise ValueError(f"audio kind {kind!r}: use one of {', '.join(KINDS)}")
        mono = np.asarray(samples, dtype=np.float32).reshape(-1)[: int(SECONDS * sr)]
        target = folder / f"step-{step}-{kind}.wav"
        atomic_write_bytes(target, _wav(mono, sr))
        written.append(target)
    for old in sorted(steps(run_path))[:-KEEP_STEPS]:
        for path in folder.glob(f"step-{old}-*.wav"):
            path.unlink(missing_ok=True)
    return written


def steps(run_path: str | Path) -> set[int]:
    """Validation steps with audio in the run folder."""
    folder = Path(run_path) / AUDIO_DIR
    if not folder.is_dir():
        return set()
    return {int(m.group(1)) for p in folder.iterdir() if (m := _NAME.fullmatch(p.name))}


def latest_clips(run_path: str | Path) -> tuple[int, dict[str, Path]] | None:
    """(step, {kind: file}) of the newest validation with audio, or None."""
    found = steps(run_path)
    if not found:
        return None
    step = max(found)
    folder = Path(run_path) / AUDIO_DIR
    clips = {k: folder / f"step-{step}-{k}.wav" for k in KINDS}
    return step, {k: p for k, p in clips.items() if p.is_file()}
