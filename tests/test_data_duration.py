"""duration: file count and total time from headers, recursive, unreadable files listed."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf
from test_data_helpers import tone, write_bad, write_good

from ravejobs.cli import main
from ravejobs.data.duration import measure


def test_measure_counts_recursively_and_lists_unreadable(tmp_path: Path) -> None:
    durations = write_good(tmp_path)
    bad = write_bad(tmp_path / "deeper")
    report = measure(tmp_path)
    # the zero-frame wav has a valid header: it counts, with 0 s
    readable = {"silent.wav"}
    assert report.files == len(durations) + len(readable)
    assert abs(report.seconds - sum(durations.values())) < 0.01
    assert {Path(p).name for p, _ in report.unreadable} == set(bad) - readable


def test_cli_prints_count_and_total(tmp_path: Path, capsys) -> None:
    for i in range(3):
        sf.write(tmp_path / f"{i} é.wav", tone(61.0, 8000), 8000)
    assert main(["duration", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "found 3 audio files" in out
    assert "total duration: 0h 3m 3s" in out
