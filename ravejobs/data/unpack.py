"""`ravejobs unpack STORE OUT`: a packed store back as playable files, to listen to what a model
will train on (the augmented variants above all).

Each entry becomes `OUT/<its source path>.wav` (variant 0) or `OUT/<path>.aug<k>.wav` (augmented
variant k), 16-bit PCM at the store's rate, written by a rename so an interrupted unpack leaves
no half file; files already there with the right length are kept, so running it again resumes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from ravejobs.atomic import atomic_write_bytes
from ravejobs.data.store import PackedStore


def entry_filename(path: str, variant: int) -> str:
    """`take 1/clip.flac`, 2 -> `take 1/clip.aug2.wav`: the source path, never outside OUT."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("", ".", "..", "/")]
    stem = PurePosixPath(*parts).with_suffix("") if parts else PurePosixPath("entry")
    return f"{stem}{f'.aug{variant}' if variant else ''}.wav"


def wav_bytes(samples: Any, sr: int) -> bytes:
    """int16 or float samples as a 16-bit PCM wav file's bytes."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def unpack(store: str | Path, out: str | Path,
           log: Callable[[str], Any] = print) -> list[Path]:
    """Write every entry of the store at `store` as a wav under `out`; returns the files."""
    import soundfile as sf

    packed = PackedStore(store)
    out = Path(out)
    written: list[Path] = []
    for e in packed.entries:
        target = out / entry_filename(e.path, e.variant)
        if target.is_file():
            try:
                if sf.info(str(target)).frames == e.length:
                    written.append(target)
                    continue
            except RuntimeError:
                pass
        samples = packed.data[e.offset:e.offset + e.length]
        atomic_write_bytes(target, wav_bytes(samples, packed.sr))
        written.append(target)
    log(f"unpacked {len(written)} files ({packed.duration_s / 60:.1f} min at {packed.sr} Hz) "
        f"to {out}")
    return written
