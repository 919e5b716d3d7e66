"""Listening to a corpus: `ravejobs unpack` writes a packed store as playable files, and
`ravejobs duration` reads a packed store as well as a folder of audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from test_data_helpers import write_good

from ravejobs.cli import main
from ravejobs.data.store import PackedStore
from ravejobs.data.unpack import entry_filename


def test_unpack_an_augmented_store_into_playable_files(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write_good(src)
    store = tmp_path / "packed AUG"
    assert main(["prepare", str(src), "--sr", "16000", "--augment", "--out", str(store),
                 "--quiet", "--workers", "1"]) == 0
    capsys.readouterr()
    out = tmp_path / "listen 'here'"
    assert main(["unpack", str(store), str(out)]) == 0
    packed = PackedStore(store)
    files = sorted(out.rglob("*.wav"))
    assert len(files) == len(packed.entries) == 15
    for e in packed.entries:
        wav = out / entry_filename(e.path, e.variant)
        data, sr = sf.read(wav, dtype="int16")
        assert sr == 16000 and np.array_equal(data, packed.data[e.offset:e.offset + e.length])
    assert "unpacked 15 files" in capsys.readouterr().out
    before = {p: p.stat().st_mtime_ns for p in files}
    assert main(["unpack", str(store), str(out)]) == 0     # again: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_entry_names_stay_inside_out():
    assert entry_filename("take 1/clip.flac", 0) == "take 1/clip.wav"
    assert entry_filename("take 1/clip.flac", 2) == "take 1/clip.aug2.wav"
    assert entry_filename("../../etc/x.wav", 0) == "etc/x.wav"


def test_duration_reads_a_packed_store(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write_good(src)
    assert main(["duration", str(src)]) == 0
    folder_text = capsys.readouterr().out
    store = tmp_path / "packed"
    assert main(["prepare", str(src), "--sr", "16000", "--augment", "--out", str(store),
                 "--quiet", "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["duration", str(store)]) == 0
    text = capsys.readouterr().out
    assert "found 0 audio files" not in text
    assert "packed store: 15 signals (3 source files, 12 augmented variants) at 16000 Hz" in text
    seconds = PackedStore(store).duration_s
    total = f"{int(round(seconds)) // 3600}h {int(round(seconds)) % 3600 // 60}m"
    assert f"total duration: {total}" in text and folder_text != text
