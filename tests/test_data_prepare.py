"""prepare: real files in several formats and rates become one mono store; bad files are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_data_helpers import tone, write_bad, write_good, write_truncated

from ravejobs.data import prepare as prep
from ravejobs.data.audio import NoAudioError, decode_mono
from ravejobs.data.prepare import PARTIAL, prepare_corpus
from ravejobs.data.store import PackedStore


def quiet(_: str) -> None:
    pass


def test_decode_mixes_to_mono_and_resamples(tmp_path: Path) -> None:
    write_good(tmp_path)
    dec = decode_mono(tmp_path / "stereo 44k.wav", 48000)
    assert dec.source_sr == 44100 and dec.channels == 2
    assert abs(len(dec.audio) - 48000) <= 2
    # the mono mix of sin(w t) and sin(w t + 1) is cos(0.5) * sin(w t + 0.5): amplitude 0.5*0.878
    peak = np.abs(dec.audio[1000:-1000]).max()
    assert peak == pytest.approx(0.5 * np.cos(0.5), rel=0.01)
    # resampling kept the pitch: the spectrum peaks at 440 Hz at the new rate
    spectrum = np.abs(np.fft.rfft(dec.audio[:48000]))
    assert abs(np.argmax(spectrum) * 48000 / 48000 - 440) <= 1


def test_prepare_good_and_bad_files(tmp_path: Path) -> None:
    src = tmp_path / "corpus dir"
    durations = write_good(src)
    reasons = write_bad(src)
    write_truncated(src / "cut.flac")
    (src / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    out = tmp_path / "packed out"
    report = prepare_corpus(src, out, 16000, workers=1, progress=False, log=quiet)

    assert report.inputs == len(durations) + len(reasons) + 1
    assert report.prepared == len(durations) + 1
    bad = {b["path"]: b["reason"] for b in report.bad}
    assert set(bad) == set(reasons)
    for name, word in reasons.items():
        assert word.lower() in bad[name].lower(), (name, bad[name])
    assert any(n["path"] == "cut.flac" and "stopped" in n["note"] for n in report.notes)
    assert report.ignored == [{"path": "cover.jpg",
                               "reason": "extension '.jpg' is not an audio format"}]

    store = PackedStore(out)
    assert store.sr == 16000
    by_name = {e["path"]: e for e in store.files}
    for name, seconds in durations.items():
        assert by_name[name]["length"] == pytest.approx(seconds * 16000, abs=2)
    assert by_name["mono22k.wav"]["source_sr"] == 22050
    saved = json.loads((out / "report.json").read_text())
    assert {b["path"] for b in saved["bad"]} == set(reasons)
    assert not (out / PARTIAL).exists()


def test_parallel_equals_serial_and_fingerprint_is_stable(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_good(src)
    a = prepare_corpus(src, tmp_path / "a", 16000, workers=1, progress=False, log=quiet)
    b = prepare_corpus(src, tmp_path / "b", 16000, workers=2, progress=False, log=quiet)
    assert a.fingerprint == b.fingerprint
    assert PackedStore(tmp_path / "b").verify()
    again = prepare_corpus(src, tmp_path / "a", 16000, workers=1, progress=False, log=quiet)
    assert again.skipped and again.fingerprint == a.fingerprint
    other = prepare_corpus(src, tmp_path / "a", 22050, workers=1, progress=False, log=quiet)
    assert not other.skipped and other.fingerprint != a.fingerprint
    assert len(list((tmp_path / "a").glob("audio-*.i16"))) == 1  # the old data file is gone


def test_interrupted_prepare_resumes_from_cache(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_good(src)
    out = tmp_path / "out"
    first = prepare_corpus(src, out, 16000, workers=1, progress=False, log=quiet)
    # a run killed after converting two files: their cache entries exist, the index does not
    sf.write(src / "late.wav", tone(0.3, 16000), 16000)
    cache = out / PARTIAL
    cache.mkdir()
    for p in sorted(src.rglob("*.wav")):
        if p.name != "late.wav":
            rel = p.relative_to(src).as_posix()
            key = prep._key(rel, p, 16000, False, 0)
            prep._convert((str(p), rel, 16000, False, 0, str(cache / f"{key}.npz")))
    (out / "index.json").unlink()
    second = prepare_corpus(src, out, 16000, workers=1, progress=False, log=quiet)
    assert second.cached == 2 and second.prepared == 4
    assert second.fingerprint != first.fingerprint
    assert len(PackedStore(out).files) == 4


def test_no_audio_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(NoAudioError, match=str(tmp_path)):
        prepare_corpus(tmp_path, tmp_path / "out", 16000, progress=False, log=quiet)
    write_bad(tmp_path / "only bad")
    with pytest.raises(NoAudioError, match="none of its 4 audio files"):
        prepare_corpus(tmp_path / "only bad", tmp_path / "out2", 16000, workers=1,
                       progress=False, log=quiet)
    assert (tmp_path / "out2" / "report.json").is_file()


def test_parallel_prepare_under_a_long_tmpdir(tmp_path: Path) -> None:
    """A $TMPDIR too long for forkserver's AF_UNIX socket (108 bytes) still prepares in parallel
    (it failed with "OSError: AF_UNIX path too long"). In a fresh process: a forkserver already
    started by another test would hide it."""
    import os
    import subprocess
    import sys

    src = tmp_path / "src"
    expected = len(write_good(src))
    long_tmp = tmp_path / ("a-long-temporary-folder-name-" * 4)
    long_tmp.mkdir()
    code = ("import sys; from ravejobs.data.prepare import prepare_corpus; "
            "r = prepare_corpus(sys.argv[1], sys.argv[2], 16000, workers=2, progress=False, "
            "log=lambda _: None); print(r.prepared)")
    done = subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "out")],
                          env={**os.environ, "TMPDIR": str(long_tmp)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(expected)
